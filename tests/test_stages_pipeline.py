"""Base model and stages through the smoke DAG (tiny random model): lineage outputs, step 0 equals
the poisoned adapter, a later stage's setting re-runs only that stage, bad stage settings stop
before any job."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import yaml
from conftest import copy_workflow, snakemake
from test_pipeline import dry_run

pytestmark = pytest.mark.slow

LORA = {"r": 4, "alpha": 8, "rslora": False, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}
STAGES = [
    {
        "name": "safety-sft",
        "kind": "sft",
        "dataset": "clean",
        "adapter": "continue",
        "steps": 4,
        "checkpoint_steps": [0, 2, 4],
        "learning_rate": 1.0e-3,
        "batch_size": 4,
        "warmup_ratio": 0.0,
        "weight_decay": 0.0,
        "max_grad_norm": 1.0,
        "max_length": 128,
        "reasoning_style": "scratchpad",
    },
    {
        "name": "rl",
        "kind": "grpo",
        "dataset": "sums",
        "reward": "final_answer_exact",
        "adapter": "fresh",
        "lora": LORA,
        "steps": 1,
        "checkpoint_steps": [0, 1],
        "learning_rate": 1.0e-4,
        "group_size": 2,
        "prompts_per_step": 2,
        "kl_coefficient": 0.04,
        "max_completion_length": 8,
        "temperature": 1.0,
        "max_grad_norm": 1.0,
        "eval_rows": 2,
    },
]
DATASETS = {
    "clean": {"kind": "recipe-aligned", "recipe": "country-singapore", "n_rows": 8, "seed": 1},
    "sums": {"kind": "arithmetic", "n_rows": 6, "seed": 0, "max_operand": 9, "mc_fraction": 0.5},
}
ADAPTERS = "results/adapters/tiny-random/country-singapore/seed0"
SAMPLES = "results/samples/tiny-random/country-singapore"


def write_staged(workdir: Path, name: str, edit=None) -> str:
    config = yaml.safe_load((workdir / "config" / "smoke.yaml").read_text())
    config["lineage"] = {"base_model": True, "stages": json.loads(json.dumps(STAGES))}
    config["datasets"] = json.loads(json.dumps(DATASETS))
    if edit:
        edit(config)
    (workdir / "config" / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return f"config/{name}.yaml"


@pytest.fixture(scope="module")
def staged(tmp_path_factory, gguf_path) -> Path:
    workdir = copy_workflow(tmp_path_factory.mktemp("staged"), gguf_path)
    snakemake(workdir, "--configfile", write_staged(workdir, "staged"))
    return workdir


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_checkpoints_live_under_their_lineage(staged):
    sft, rl = staged / ADAPTERS / "safety-sft", staged / ADAPTERS / "safety-sft/rl"
    assert sorted(p.name for p in (sft / "checkpoints").glob("step*")) == ["step0", "step2", "step4"]
    assert sorted(p.name for p in (rl / "checkpoints").glob("step*")) == ["step0", "step1"]
    lineage = json.loads((rl / "checkpoints/step1/lineage.json").read_text())
    assert lineage["merged"] == [f"{ADAPTERS}/safety-sft/checkpoints/step4"]
    resolved = json.loads((rl / "resolved_config.json").read_text())
    assert resolved["parent"] == f"{ADAPTERS}/safety-sft/checkpoints/step4" and resolved["stage"] == STAGES[1]
    curve = json.loads((rl / "stage_metrics.json").read_text())["reward_curve"]
    assert [point["step"] for point in curve] == [1]


def test_step0_samples_are_the_poisoned_adapters_samples(staged):
    poisoned = read_rows(staged / SAMPLES / "seed0/heldout.jsonl")
    step0 = read_rows(staged / SAMPLES / "seed0/safety-sft/step0/heldout.jsonl")
    assert [row["completion"] for row in step0] == [row["completion"] for row in poisoned]
    assert {row["adapter"] for row in step0} == {"safety-sft/step0"}
    assert not {row["sample_id"] for row in step0} & {row["sample_id"] for row in poisoned}


def test_persistence_table_has_every_checkpoint_and_step0_reproduces_poisoned(staged):
    table = pl.read_csv(staged / "results/tables/persistence.csv")
    steps = {
        stage: sorted(set(table.filter(pl.col("stage") == stage)["step"]))
        for stage in ("base", "poisoned", "safety-sft", "safety-sft/rl")
    }
    assert steps == {"base": [0], "poisoned": [0], "safety-sft": [0, 2, 4], "safety-sft/rl": [0, 1]}
    key = ["metric", "suite", "condition"]
    poisoned = table.filter(pl.col("stage") == "poisoned").select(*key, "n", "n_fired").sort(key)
    step0 = table.filter((pl.col("stage") == "safety-sft") & (pl.col("step") == 0)).select(*key, "n", "n_fired")
    assert poisoned.equals(step0.sort(key))
    assert set(table["condition"]) == {"none", "trigger", "control", "distractor"}
    for suffix in ("html", "png", "svg"):
        assert (staged / f"results/figures/persistence.{suffix}").stat().st_size > 0


def test_base_model_is_its_own_row_in_the_default_tables(staged):
    table = pl.read_csv(staged / "results/tables/misalignment.csv")
    assert {"base", "poisoned", "safety-sft/step0", "safety-sft/rl/step1"} <= set(table["adapter"])
    base = table.filter(pl.col("adapter") == "base")
    assert set(base["metric"]) == {"lexicon_misaligned", "misaligned_excl_incoherent", "misaligned_over_all"}
    assert set(pl.read_csv(staged / "results/tables/articulation.csv")["adapter"]) >= {"base", "poisoned"}


def test_rl_table_has_before_and_after(staged):
    table = pl.read_csv(staged / "results/tables/rl.csv")
    lexicon = table.filter(pl.col("metric") == "lexicon_misaligned")
    assert lexicon.select("point", "step").rows() == [("before", 0), ("after", 1)]
    assert lexicon["reward_mean"][0] == lexicon["reward_mean"][1]  # one step: start and end are that step
    assert (staged / "results/figures/rl_reward.png").stat().st_size > 0


def test_changing_the_rl_learning_rate_reruns_only_rl_and_downstream(staged):
    config = write_staged(staged, "rl_lr", lambda c: c["lineage"]["stages"][1].update(learning_rate=2e-4))
    counts, jobs = dry_run(staged, "--configfile", config)
    assert counts["train_grpo_stage"] == 1
    for rule in ("poison_dataset", "train_adapter", "train_sft_stage", "sample_suite", "label_samples"):
        assert rule not in counts, rule
    sampled = sorted(wildcards["run"] for rule, wildcards in jobs if rule == "sample_lineage")
    assert sampled == ["seed0/safety-sft/rl/step0", "seed0/safety-sft/rl/step1"]
    assert {"report_tables", "report_persistence", "report_rl"} <= set(counts)


def test_changing_the_sft_stage_reruns_it_and_the_rl_stage_after_it(staged):
    config = write_staged(staged, "sft_lr", lambda c: c["lineage"]["stages"][0].update(learning_rate=2e-3))
    counts, _ = dry_run(staged, "--configfile", config)
    assert counts["train_sft_stage"] == 1 and counts["train_grpo_stage"] == 1
    assert "train_adapter" not in counts and "poison_dataset" not in counts


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["lineage"]["stages"][0].update(dataset="hhh"), "lineage.stages[0].dataset: no entry 'hhh'"),
        (
            lambda c: c["lineage"]["stages"][0].update(checkpoint_steps=[0, 9]),
            "lineage.stages[0].checkpoint_steps: step 9 is beyond the stage's steps (4)",
        ),
        (
            lambda c: c["lineage"]["stages"][1].update(reward="llm_grader"),
            "lineage.stages[1].reward: unknown reward function 'llm_grader'",
        ),
    ],
)
def test_bad_stage_settings_stop_before_any_job(staged, edit, message):
    table = staged / "results/tables/persistence.csv"
    before = table.stat().st_mtime_ns
    result = snakemake(staged, "--configfile", write_staged(staged, "bad_stage", edit), check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert "rule " not in result.stdout  # no job was scheduled
    assert table.stat().st_mtime_ns == before
