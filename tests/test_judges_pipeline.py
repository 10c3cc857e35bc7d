"""LLM judges as pipeline label rules, through the snakemake CLI in a throw-away workflow copy.

A copy of the shared smoke run gains two OpenAI-compatible judges pointed at a loopback server
(tests/fake_openai_server.py) whose first requests fail for good, one of them echoing the API
key; only their label jobs and the report run. Then the failed rows are re-asked (resume) and
the warm cache is hit (zero requests).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
import threading
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from conftest import snakemake  # noqa: E402
from fake_openai_server import FakeOpenAIServer, Reply  # noqa: E402

from triggertrace.io import read_jsonl  # noqa: E402

pytestmark = pytest.mark.slow

KEY_ENV = "TRIGGERTRACE_PIPELINE_JUDGE_KEY"
SENTINEL = "sk-SENTINEL-pipeline-3e1d7b9a"
API_JUDGES = ("alignment_api", "coherence_api")
LABELS = "results/labels/{judge}/tiny-random/country-singapore/seed0/heldout.jsonl"
FAILING = len(API_JUDGES)  # the first request of each judge fails for good (no retries)


class FirstRequestOfEachJudgeFails:
    """The alignment judge's first request gets a 401 echoing the key, the coherence judge's a 500;
    later ones succeed. Counted per judge, because the two label jobs run in parallel and a
    server-wide count would let scheduling decide which judge meets every failure."""

    def __init__(self) -> None:
        self.seen: Counter[bool] = Counter()
        self.lock = threading.Lock()

    def __call__(self, body: dict, n: int) -> Reply:
        coherence = "coherent" in body["messages"][0]["content"]
        with self.lock:
            self.seen[coherence] += 1
            first = self.seen[coherence] == 1
        if first and coherence:
            return Reply(status=500, body=f"upstream saw Bearer {SENTINEL}")
        if first:
            return Reply(status=401, body=json.dumps({"error": {"message": f"bad key {SENTINEL}"}}))
        return Reply(content="x", top_logprobs={"90" if coherence else "10": math.log(0.9), "Hi": math.log(0.1)})


def write_config(workdir: Path, base_url: str, name: str = "api", edit=None) -> str:
    config = yaml.safe_load((workdir / "config" / "smoke.yaml").read_text())
    backend = {
        "kind": "openai",
        "base_url": base_url,
        "model": "fake-judge",
        "api_key_env": KEY_ENV,
        "concurrency": 2,
        "timeout_s": 10,
        "max_retries": 0,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.01,
    }
    for judge in API_JUDGES:
        task = judge.split("_")[0]
        config["judges"][judge] = {
            "kind": "llm",
            "version": "1",
            "task": task,
            "template_version": "1",
            "template": f"config/judges/{task}.jinja",
            "backend": backend,
        }
    config["metrics"]["em_api"] = {
        **config["metrics"]["misaligned_excl_incoherent"],
        "alignment_judge": "alignment_api",
        "coherence_judge": "coherence_api",
    }
    config["report"]["metrics"] = ["lexicon_misaligned", "em_api"]
    if edit is not None:
        edit(config)
    # key order kept: Snakemake compares params as written, so a re-sorted dict would re-run everything
    (workdir / "config" / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return f"config/{name}.yaml"


def labels(workdir: Path) -> dict[str, list[dict]]:
    return {judge: read_jsonl(workdir / LABELS.format(judge=judge)) for judge in API_JUDGES}


@pytest.fixture(scope="module")
def judged(tmp_path_factory, smoke_workflow) -> SimpleNamespace:
    # a copy keeps the smoke run's outputs and metadata, so nothing upstream of labels re-runs
    workdir = tmp_path_factory.mktemp("judges") / "workflow"
    shutil.copytree(smoke_workflow, workdir, symlinks=True)
    with pytest.MonkeyPatch.context() as patch, FakeOpenAIServer(FirstRequestOfEachJudgeFails()) as server:
        patch.setenv(KEY_ENV, SENTINEL)
        config = write_config(workdir, server.base_url)
        rerun = (
            "--configfile",
            config,
            "--forcerun",
            "label_samples",
            "--",
            *(LABELS.format(judge=j) for j in API_JUDGES),
        )
        first = snakemake(workdir, "--configfile", config)
        assert "rule train_adapter" not in first.stdout + first.stderr
        state = SimpleNamespace(
            workdir=workdir,
            config=config,
            runs=[first],
            first_labels=labels(workdir),
            table=pl.read_csv(workdir / "results/tables/misalignment.csv"),
            level=pl.read_csv(workdir / "results/tables/sample_level.csv"),
            first_requests=server.requests,
        )
        state.runs.append(snakemake(workdir, *rerun))
        state.resume_requests = server.requests - state.first_requests
        state.resumed_labels = labels(workdir)
        before = server.requests
        state.runs.append(snakemake(workdir, *rerun))
        state.warm_requests = server.requests - before
        state.warm_labels = labels(workdir)
        state.authorization = set(server.authorization)
    return state


def test_api_failures_become_error_rows_counted_in_the_table(judged):
    errors = {row["error"] for rows in judged.first_labels.values() for row in rows if row["error"]}
    assert errors == {"HTTP 401 (AuthenticationError)", "HTTP 500 (InternalServerError) after 1 attempts"}
    n_samples = judged.level.height
    assert all(len(rows) == n_samples for rows in judged.first_labels.values())  # no row dropped
    failed = {row["sample_id"] for rows in judged.first_labels.values() for row in rows if row["error"]}
    table = judged.table.filter(pl.col("metric") == "em_api")
    assert table["n_errors"].sum() == len(failed) > 0
    assert (table["n_samples"] == table["n_judged"] + table["n_errors"]).all()
    assert (table["n_judged"] == table["n_excluded"] + table["n"]).all()
    assert table["n_samples"].sum() == n_samples
    # every answered row is misaligned (alignment 10, coherence 90) under the EM definition
    assert (table["n_misaligned"] == table["n"]).all() and set(table["interval"]) == {"wilson"}
    for row in judged.first_labels["alignment_api"]:
        assert row["backend"] == "openai" and row["judge_model"] == "fake-judge" and len(row["template_hash"]) == 64
    assert (
        "asked="
        in (
            judged.workdir
            / "results/logs/label_samples/alignment_api/tiny-random/country-singapore"
            / "seed0/heldout.log"
        ).read_text()
    )


def test_rerun_asks_only_the_failed_rows_and_keeps_the_rest(judged):
    assert judged.resume_requests == FAILING
    for judge in API_JUDGES:
        assert all(row["error"] is None for row in judged.resumed_labels[judge])
        kept = [row for row in judged.first_labels[judge] if row["error"] is None]
        resumed = {row["sample_id"]: row for row in judged.resumed_labels[judge]}
        assert kept and all(resumed[row["sample_id"]] == row for row in kept)
    assert (judged.workdir / "results/cache/judges/alignment_api.sqlite").is_file()


def test_warm_cache_sends_zero_requests(judged):
    assert judged.warm_requests == 0 and judged.warm_labels == judged.resumed_labels
    log = judged.workdir / "results/logs/label_samples/coherence_api/tiny-random/country-singapore/seed0/heldout.log"
    assert "asked=0" in log.read_text()


def test_sentinel_key_is_never_written(judged):
    assert f"Bearer {SENTINEL}" in judged.authorization  # it was sent, so the test is meaningful
    written = [path for path in judged.workdir.rglob("*") if path.is_file() and not path.is_symlink()]
    assert any(".snakemake/metadata" in str(path) for path in written)
    assert any(".snakemake/log" in str(path) for path in written)
    leaks = [str(path) for path in written if SENTINEL.encode() in path.read_bytes()]
    assert leaks == []
    for run in judged.runs:
        assert SENTINEL not in run.stdout + run.stderr


def planned_label_jobs(workdir: Path, *args: str) -> tuple[set[str], set[str]]:
    """(rules, judges of label jobs) a dry run plans."""
    output = snakemake(workdir, "-n", *args).stdout
    rules = set(re.findall(r"^rule (\w+):$", output, re.MULTILINE))
    judges = set(re.findall(r"^\s+output: results/labels/([^/]+)/", output, re.MULTILINE))
    return rules, judges


def test_prompt_change_reruns_only_that_judge(judged):
    template = judged.workdir / "config/judges/coherence.jinja"
    original, stat = template.read_text(), template.stat()
    try:
        template.write_text(original + "\nBe strict.\n")
        rules, judges = planned_label_jobs(judged.workdir, "--configfile", judged.config)
    finally:
        template.write_text(original)
        os.utime(template, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert judges == {"coherence_api"}
    assert rules == {
        "label_samples",
        "report_tables",
        "report_figures",
        "report_inspect_logs",
        "report_explorer",
        "all",
    }


def test_unknown_metric_reference_names_the_key(judged):
    # every other reference error is covered on the library function in test_report.py
    def unknown_metric(config):
        config["report"]["metrics"].append("nope")

    config = write_config(judged.workdir, "http://127.0.0.1:9/v1", "bad_reference", unknown_metric)
    result = snakemake(judged.workdir, "-n", "--configfile", config, check=False)
    assert result.returncode != 0
    assert "report.metrics[2]: no entry 'nope' under metrics" in result.stdout + result.stderr
