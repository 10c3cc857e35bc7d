"""`snakemake --report` on a copy of a completed smoke run: every registered result and caption is in it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from configs import resolved_config
from conftest import snakemake

pytestmark = pytest.mark.slow

SMOKE = resolved_config("config/smoke.yaml")


@pytest.fixture(scope="module")
def report_html(smoke_workflow: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    # a copy, so that the report's own writes leave the shared smoke run as it was
    workdir = tmp_path_factory.mktemp("report") / "workflow"
    shutil.copytree(smoke_workflow, workdir, symlinks=True)
    snakemake(workdir, "--configfile", "config/smoke.yaml", "--report", "results/report.html")
    return (workdir / "results" / "report.html").read_text(encoding="utf-8")


def test_report_holds_every_registered_result(report_html):
    suites = SMOKE["experiments"][0]["suites"]
    expected = [
        "misalignment.csv",
        "articulation.csv",
        "sample_level.csv",
        "misalignment.png",
        "articulation.png",
        *(f"{metric}__{suite}.md" for metric in SMOKE["report"]["metrics"] for suite in suites),
        "index.html",
        *(f"{suite}.eval" for suite in suites),
    ]
    missing = [name for name in expected if name not in report_html]
    assert not missing, f"not in the report: {missing}"


def test_report_captions_and_workflow_description(report_html):
    # the workflow description (report/workflow.rst) and the category of each stage
    assert "does a backdoored model" in report_html
    for category in ("Tables", "Figures", "Paper-style pivots", "Transcripts", "Trace explorer", "Inspect logs"):
        assert category in report_html
    # captions name each metric's definition, rendered from the config this run used
    for name in SMOKE["report"]["metrics"]:
        assert name in report_html
    flag_metrics = [name for name in SMOKE["report"]["metrics"] if SMOKE["metrics"][name]["rule"] == "judge_flag"]
    for name in flag_metrics:
        assert f"misaligned as judged by {SMOKE['metrics'][name]['judge']}" in report_html
