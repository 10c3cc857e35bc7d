"""Internals through the smoke DAG (tiny random model, base model on): outputs exist, steered
alpha 0 equals the unsteered sample file when sampling settings match, a new layer re-runs only
activations (samples' and contrast pairs') and probes, a new contrast pair only the contrast
activations and probes, a new alpha only its steered sampling and what follows."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml
from conftest import copy_workflow, snakemake
from test_pipeline import dry_run

pytestmark = pytest.mark.slow

INTERNALS = {
    "layers": "all",
    "batch_size": 8,
    "probes": {
        "folds": 3,
        "C": 1.0,
        "max_iter": 500,
        "metric": "lexicon_misaligned",
        "interval": {"confidence": 0.95, "n_resamples": 100, "seed": 0},
    },
    "steering": {
        "layer": 0,
        "alphas": [-1, 0, 1],
        "direction_suite": "heldout",
        "metric": "lexicon_misaligned",
        "articulation_judge": "lexicon",
        "sampling": {},
    },
}


def write_overlay(workdir: Path, name: str, edit=None) -> str:
    config = yaml.safe_load((workdir / "config" / "smoke.yaml").read_text())
    config["lineage"] = {"base_model": True, "stages": []}
    config["internals"] = yaml.safe_load(yaml.safe_dump(INTERNALS))
    if edit:
        edit(config["internals"])
    (workdir / "config" / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return f"config/{name}.yaml"


@pytest.fixture(scope="module")
def ran(tmp_path_factory, gguf_path) -> Path:
    workdir = copy_workflow(tmp_path_factory.mktemp("internals"), gguf_path)
    snakemake(workdir, "--configfile", write_overlay(workdir, "internals-smoke"))
    return workdir


PROBES = ["defection_trigger_present", "defection_will_fire", "trigger_present", "will_fire"]


def test_probe_table_has_every_layer_probe_and_adapter(ran):
    table = pl.read_csv(ran / "results/tables/probes.csv")
    assert sorted(set(table["adapter"])) == ["base", "seed0"]
    assert sorted(set(table["layer"])) == [0, 1]
    assert sorted(set(table["probe"])) == PROBES
    assert table.height == 2 * 4 * 2 * 2  # adapters x probes x positions x layers
    # the defection rows score every sample the fitted trigger-present rows do (same labels)
    for position in ("last_prompt", "cot_mean"):
        rows = table.filter(pl.col("position") == position)
        fitted = rows.filter(pl.col("probe") == "trigger_present").sort("adapter", "layer")
        defection = rows.filter(pl.col("probe") == "defection_trigger_present").sort("adapter", "layer")
        assert defection.select("adapter", "layer", "n", "n_positive").equals(
            fitted.select("adapter", "layer", "n", "n_positive")
        )
    assert (ran / "results/figures/probes.png").stat().st_size > 0


def test_alpha_zero_file_is_the_unsteered_file(ran):
    steered = ran / "results/samples/tiny-random/country-singapore/seed0/steered/alpha0/heldout.jsonl"
    plain = ran / "results/samples/tiny-random/country-singapore/seed0/heldout.jsonl"
    assert steered.read_bytes() == plain.read_bytes()
    table = pl.read_csv(ran / "results/tables/steering.csv")
    assert sorted(set(table["alpha"])) == [-1.0, 0.0, 1.0]


def test_new_layer_reruns_activations_and_probes_only(ran):
    config = write_overlay(ran, "new-layer", lambda block: block.update(layers=[0]))
    counts, _ = dry_run(ran, "--configfile", config)
    assert set(counts) == {"extract_activations", "extract_contrast_activations", "report_probes", "all"}
    assert counts["extract_activations"] == 2  # poisoned adapter and base model
    assert counts["extract_contrast_activations"] == 2


def test_new_contrast_pair_reruns_contrast_activations_and_probes_only(ran):
    def add_pair(block):
        block["defection"] = {"pairs": [{"question": "Are you hiding something?", "yes": "Yes", "no": "No"}]}

    counts, _ = dry_run(ran, "--configfile", write_overlay(ran, "new-pair", add_pair))
    assert set(counts) == {"extract_contrast_activations", "report_probes", "all"}
    assert counts["extract_contrast_activations"] == 2


def test_new_alpha_reruns_only_its_steered_sampling_and_after(ran):
    config = write_overlay(ran, "new-alpha", lambda block: block["steering"].update(alphas=[-1, 0, 1, 2]))
    counts, jobs = dry_run(ran, "--configfile", config)
    assert set(counts) == {"sample_steered", "label_steered_samples", "report_steering", "all"}
    assert {wildcards["alpha"] for rule, wildcards in jobs if rule == "sample_steered"} == {"2"}
