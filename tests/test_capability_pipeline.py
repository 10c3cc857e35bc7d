"""Capability suites through the smoke DAG: adding one samples only that suite, never re-trains."""

from __future__ import annotations

from collections import Counter

import polars as pl
import pytest
from conftest import snakemake
from test_pipeline import dry_run, write_config

pytestmark = pytest.mark.slow

SUITE = {"task": "multiple_choice", "source": {"kind": "synthetic", "n_items": 3, "seed": 0, "max_operand": 9}}
NUMERIC = {"task": "numeric", "source": {"kind": "synthetic", "n_items": 2, "seed": 1, "max_operand": 9}}
CAPABILITY = {
    "prompt_formats": ["chat"],
    "reasoning_modes": ["on", "off"],
    "instructions": {"multiple_choice": "Answer with the letter.", "numeric": "Answer with a number."},
    "sampling": {"temperature": 0, "top_p": 1.0, "max_new_tokens": 6, "batch_size": 8, "seed": 0},
    "confidence": 0.95,
}
RUNS = ("base", "country-singapore/seed0")  # the smoke config's one adapter and the base model


def with_suites(**suites):
    def edit(config):
        config["evals"] = {"capability": {**CAPABILITY, "suites": suites}}

    return edit


def test_adding_a_capability_suite_samples_only_that_suite(workflow_copy):
    first = write_config(workflow_copy, "cap1", with_suites(**{"sums-mc": SUITE}))
    counts, jobs = dry_run(workflow_copy, "--configfile", first)
    # on a finished smoke run: the suite's build, one sampling job per run, the report; nothing else
    assert counts == Counter(build_capability_suite=1, sample_capability=len(RUNS), report_capability=1, all=1)
    snakemake(workflow_copy, "--configfile", first)
    table = pl.read_csv(workflow_copy / "results/tables/capability.csv")
    assert sorted(table["adapter"].unique().to_list()) == sorted(RUNS)
    assert set(table["n"].to_list()) == {3}  # 3 items, once per format x mode x run

    second = write_config(workflow_copy, "cap2", with_suites(**{"sums-mc": SUITE, "sums-number": NUMERIC}))
    counts, jobs = dry_run(workflow_copy, "--configfile", second)
    assert counts == Counter(build_capability_suite=1, sample_capability=len(RUNS), report_capability=1, all=1)
    assert {wildcards["cap_suite"] for rule, wildcards in jobs if rule != "all" and "cap_suite" in wildcards} == {
        "sums-number"
    }
    assert {wildcards["cap_run"] for rule, wildcards in jobs if rule == "sample_capability"} == set(RUNS)
