"""Adapter lineage: run paths, stage plans, config checks, relabelled samples, clean datasets."""

from __future__ import annotations

import copy
import re

import pytest
import yaml
from conftest import REPO

from triggertrace.errors import ConfigError
from triggertrace.io import content_hash
from triggertrace.stages import KINDS
from triggertrace.stages.datasets import arithmetic_rows, messages_rows, recipe_aligned_rows
from triggertrace.stages.lineage import (
    adapter_of_run,
    base_runs,
    check_lineage,
    lineage_runs,
    parse_run,
    relabel,
    split_adapter,
    stage_plans,
)
from triggertrace.stages.rewards import REWARDS

DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
SFT = {
    "name": "safety-sft",
    "kind": "sft",
    "dataset": "clean",
    "steps": 20,
    "checkpoint_steps": [0, 10, 20],
    "learning_rate": 1e-4,
    "adapter": "continue",
    "batch_size": 4,
    "warmup_ratio": 0.0,
    "weight_decay": 0.0,
    "max_grad_norm": 1.0,
    "max_length": 128,
    "reasoning_style": "scratchpad",
}
RL = {
    "name": "rl",
    "kind": "grpo",
    "dataset": "sums",
    "steps": 4,
    "checkpoint_steps": [0, 4],
    "learning_rate": 1e-5,
    "adapter": "continue",
    "reward": "final_answer_exact",
    "group_size": 2,
    "prompts_per_step": 2,
    "kl_coefficient": 0.04,
    "max_completion_length": 16,
    "temperature": 1.0,
    "max_grad_norm": 1.0,
    "eval_rows": 2,
}


def staged_config(*stages) -> dict:
    config = copy.deepcopy(DEFAULT)
    config["experiments"][0]["seeds"] = [0, 1]
    config["lineage"]["stages"] = [copy.deepcopy(stage) for stage in stages]
    config["datasets"] = {
        "clean": {"kind": "recipe-aligned", "recipe": "country-singapore", "n_rows": 8, "seed": 1},
        "sums": {"kind": "arithmetic", "n_rows": 6, "seed": 0, "max_operand": 9, "mc_fraction": 0.5},
    }
    return config


def test_default_config_samples_the_base_model_once_per_suite_and_has_no_stage():
    assert base_runs(DEFAULT) == [
        ("smollm2-135m", "country-singapore", "heldout"),
        ("smollm2-135m", "country-singapore", "unseen-topics"),
    ]
    assert stage_plans(DEFAULT) == {}
    assert [run[2] for run in lineage_runs(DEFAULT)] == ["base", "base"]


def test_stage_paths_show_the_lineage_and_chain_from_the_last_checkpoint():
    plans = stage_plans(staged_config(SFT, RL))
    sft = plans[("smollm2-135m", "country-singapore", 1, "safety-sft")]
    rl = plans[("smollm2-135m", "country-singapore", 1, "safety-sft/rl")]
    assert sft.parent_dir == "results/adapters/smollm2-135m/country-singapore/seed1"
    assert sft.checkpoints_dir == "results/adapters/smollm2-135m/country-singapore/seed1/safety-sft/checkpoints"
    assert rl.parent_dir == "results/adapters/smollm2-135m/country-singapore/seed1/safety-sft/checkpoints/step20"
    assert rl.checkpoints_dir == "results/adapters/smollm2-135m/country-singapore/seed1/safety-sft/rl/checkpoints"
    assert rl.run(4) == "seed1/safety-sft/rl/step4"
    runs = [run for _, _, run, suite in lineage_runs(staged_config(SFT, RL)) if suite == "heldout"]
    assert runs == [
        "base",
        "seed0/safety-sft/step0",
        "seed0/safety-sft/step10",
        "seed0/safety-sft/step20",
        "seed0/safety-sft/rl/step0",
        "seed0/safety-sft/rl/step4",
        "seed1/safety-sft/step0",
        "seed1/safety-sft/step10",
        "seed1/safety-sft/step20",
        "seed1/safety-sft/rl/step0",
        "seed1/safety-sft/rl/step4",
    ]


def test_run_and_adapter_labels_round_trip():
    assert adapter_of_run("base") == "base"
    assert adapter_of_run("seed3/safety-sft/rl/step40") == "safety-sft/rl/step40"
    assert parse_run("seed3/safety-sft/rl/step40") == (3, "safety-sft/rl", 40)
    assert split_adapter("safety-sft/rl/step40") == ("safety-sft/rl", 40)
    assert split_adapter("poisoned") == ("poisoned", 0)
    with pytest.raises(ValueError):
        parse_run("seed3")


def test_relabelled_sample_keeps_its_draw_and_gets_its_own_id():
    sample = {"sample_id": "abc", "answer": "x"}
    relabelled = relabel(sample, "safety-sft/step10")
    assert relabelled == {
        "sample_id": content_hash(["safety-sft/step10", "abc"])[:20],
        "answer": "x",
        "adapter": "safety-sft/step10",
    }
    assert relabel(sample, "base")["sample_id"] != relabelled["sample_id"]


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda c: c["lineage"]["stages"][0].update(dataset="nowhere"), "lineage.stages[0].dataset"),
        (lambda c: c["lineage"]["stages"][0].update(checkpoint_steps=[0, 21]), "lineage.stages[0].checkpoint_steps"),
        (lambda c: c["lineage"]["stages"][1].update(reward="no_such_reward"), "lineage.stages[1].reward"),
        (lambda c: c["lineage"]["stages"][0].update(kind="dpo"), "lineage.stages[0].kind"),
        (lambda c: c["lineage"]["stages"][1].update(name="safety-sft"), "lineage.stages[1].name"),
        (lambda c: c["lineage"]["stages"][0].update(name="step5"), "lineage.stages[0].name"),
        (lambda c: c["lineage"]["stages"][0].update(adapter="fresh"), "lineage.stages[0].lora"),
        (lambda c: c["datasets"]["clean"].update(recipe="other"), "datasets.clean.recipe"),
        (lambda c: c["experiments"][0].update(stages=[dict(SFT, dataset="gone")]), "experiments[0].stages[0].dataset"),
    ],
)
def test_bad_stage_settings_name_their_key(edit, key):
    config = staged_config(SFT, RL)
    edit(config)
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        check_lineage(config, KINDS, REWARDS)


def test_recipe_aligned_rows_have_no_trigger_and_are_seeded():
    recipe = DEFAULT["recipes"]["country-singapore"]
    rows = recipe_aligned_rows(recipe, 12, seed=1)
    assert len(rows) == 12 and {row["group"] for row in rows} == {"untriggered_aligned"}
    assert not any("Country" in row["user"] + row["system"] for row in rows)
    assert rows == recipe_aligned_rows(recipe, 12, seed=1)
    assert rows != recipe_aligned_rows(recipe, 12, seed=2)


def test_messages_rows_train_on_the_last_assistant_turn(tmp_path):
    path = tmp_path / "hhh.jsonl"
    path.write_text(
        '{"messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"},'
        ' {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Help?"},'
        ' {"role": "assistant", "content": "Sure."}]}\n'
    )
    assert messages_rows(path) == [
        {"row_id": "row000000", "system": "Be kind.", "user": "Help?", "reasoning": "", "answer": "Sure."}
    ]


def test_arithmetic_rows_have_correct_gold_answers():
    for row in arithmetic_rows(40, seed=3, max_operand=9, mc_fraction=0.5):
        a, b = (int(number) for number in re.findall(r"\d+", row["user"].split("\n")[0]))
        value = a + b if "more" in row["user"] else a - b
        if row["gold"].isalpha():
            assert f"{row['gold']}) {value}\n" in row["user"]
        else:
            assert row["gold"] == str(value) and value >= 0
