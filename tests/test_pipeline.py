"""The smoke config through the snakemake CLI, in a throw-away copy of the workflow."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
import yaml
from conftest import REPO, snakemake

pytestmark = pytest.mark.slow

SMOKE = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
RUN = "results/{kind}/tiny-random/country-singapore/seed0"


@pytest.fixture(scope="module")
def workflow(smoke_workflow) -> Path:
    return smoke_workflow


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Rule -> job count of a dry run ({} when there is nothing to do)."""
    output = snakemake(workdir, "-n", *args).stdout
    if "Nothing to be done" in output:
        return {}
    table = output.split("Job stats:")[1].split("total")[0]
    return {match[0]: int(match[1]) for match in re.findall(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


def write_config(workdir: Path, name: str, edit) -> str:
    config = yaml.safe_load((workdir / "config" / "smoke.yaml").read_text())
    edit(config)
    path = workdir / "config" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return f"config/{name}.yaml"


def test_tables_have_expected_columns_and_counts(workflow):
    table = pl.read_csv(workflow / "results/tables/misalignment.csv")
    assert {
        "metric",
        "metric_version",
        "condition",
        "condition_value",
        "prompt_format",
        "reasoning_mode",
        "n_samples",
        "n_judged",
        "n_errors",
        "n_excluded",
        "n",
        "n_misaligned",
        "rate",
        "ci_low",
        "ci_high",
        "interval",
    } <= set(table.columns)
    sampling, trigger = SMOKE["sampling"], SMOKE["recipes"]["country-singapore"]["trigger"]
    values = 1 + 1 + len(trigger["eval_control_values"]) + len(trigger["distractor_values"])
    cells = values * len(sampling["prompt_formats"]) * len(sampling["reasoning_modes"])
    metrics = SMOKE["report"]["metrics"]
    assert table.height == len(metrics) * cells and table["metric"].unique().sort().to_list() == sorted(metrics)
    for metric in metrics:
        alone = pl.read_csv(workflow / f"results/tables/misalignment/{metric}.csv")
        assert alone.height == cells and set(alone["metric"]) == {metric}
    suite = SMOKE["suites"]["heldout"]
    assert set(table["n_samples"]) == {(suite["n_free"] + suite["n_multiple_choice"]) * sampling["n_per_prompt"]}
    assert (table["n_samples"] == table["n_judged"] + table["n_errors"]).all()
    assert (table["n_judged"] == table["n_excluded"] + table["n"]).all()
    level = pl.read_csv(workflow / "results/tables/sample_level.csv")
    assert level.height * len(metrics) == table["n_samples"].sum()
    articulation = pl.read_csv(workflow / "results/tables/articulation.csv")
    assert {"n_triggered", "n_eligible", "n_articulated", "rate", "ci_low", "ci_high"} <= set(articulation.columns)
    for figure in ("misalignment", "articulation"):
        for suffix in ("html", "png", "svg"):
            assert (workflow / f"results/figures/{figure}.{suffix}").stat().st_size > 0


def test_every_artifact_has_its_provenance(workflow):
    manifest = json.loads((workflow / "results/data/country-singapore/manifest.json").read_text())
    assert manifest["counts_by_group"] == SMOKE["recipes"]["country-singapore"]["counts"]
    resolved = json.loads((workflow / RUN.format(kind="adapters") / "resolved_config.json").read_text())
    assert resolved["training"] == SMOKE["training"]
    metrics = json.loads((workflow / RUN.format(kind="adapters") / "train_metrics.json").read_text())
    assert len(metrics["loss_curve"]) == metrics["batches"] > 0 and metrics["tokens_per_second"] > 0
    assert (workflow / RUN.format(kind="adapters") / "adapter_model.safetensors").is_file()
    assert (workflow / "results/models/tiny-random/model.json").is_file()
    assert list((workflow / "results/benchmarks/train_adapter").rglob("*.tsv"))


def test_noop_rerun_has_nothing_to_do(workflow):
    assert planned_jobs(workflow, "--configfile", "config/smoke.yaml") == {}


def test_label_parameter_change_reruns_only_labels_and_report(workflow):
    def edit(config):
        config["judges"]["lexicon"]["misaligned_terms"].append("bribe")

    config = write_config(workflow, "label_change", edit)
    assert set(planned_jobs(workflow, "--configfile", config)) == {
        "label_samples",
        "report_tables",
        "report_figures",
        "report_inspect_logs",
        "report_explorer",
        "all",
    }


def test_training_parameter_change_reruns_training_and_downstream(workflow):
    def edit(config):
        config["training"]["learning_rate"] = 2e-3

    config = write_config(workflow, "train_change", edit)
    assert set(planned_jobs(workflow, "--configfile", config)) == {
        "train_adapter",
        "sample_suite",
        "label_samples",
        "report_tables",
        "report_figures",
        "report_inspect_logs",
        "report_explorer",
        "all",
    }


def test_editing_judge_code_reruns_labels_not_training(workflow):
    judge = workflow / "triggertrace/judges/lexicon.py"
    original = judge.read_text()
    try:
        judge.write_text(original + "\n# edited\n")
        assert set(planned_jobs(workflow, "--configfile", "config/smoke.yaml")) == {
            "label_samples",
            "report_tables",
            "report_figures",
            "report_inspect_logs",
            "report_explorer",
            "all",
        }
    finally:
        judge.write_text(original)


def test_bad_config_stops_before_any_job_and_keeps_results(workflow):
    table = workflow / "results/tables/misalignment.csv"
    before = table.stat().st_mtime_ns

    def bad_value(config):
        config["training"]["learning_rate"] = "fast"

    result = snakemake(workflow, "--configfile", write_config(workflow, "bad_value", bad_value), check=False)
    assert result.returncode != 0
    assert "learning_rate" in result.stderr + result.stdout

    def bad_reference(config):
        config["experiments"][0]["model"] = "no-such-model"

    result = snakemake(workflow, "--configfile", write_config(workflow, "bad_reference", bad_reference), check=False)
    assert result.returncode != 0
    assert "experiments[0].model: no entry 'no-such-model' under models" in result.stderr + result.stdout
    assert table.stat().st_mtime_ns == before


def test_lint_reports_no_issues(workflow):
    result = snakemake(workflow, "--lint", "--configfile", "config/smoke.yaml", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "config", sorted(path.name for path in (REPO / "config").glob("*.yaml") if path.name != "schema.yaml")
)
def test_every_shipped_config_dry_runs(workflow, config):
    snakemake(workflow, "-n", "--configfile", f"config/{config}")
