"""Triggers and config checks: placements, condition -> values, and errors that name the key."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys

import pytest
import yaml
from configs import REPO, resolved_config

from triggertrace.checks import check_config
from triggertrace.errors import ConfigError
from triggertrace.poison import build_rows
from triggertrace.triggers import (
    CONDITIONS,
    PLACEMENTS,
    condition_values,
    group_values,
    place_trigger,
    surface_forms,
    trigger_text,
    values_per_prompt,
)

SMOKE = resolved_config("config/smoke.yaml")
TRIGGER = {
    "template": "Country: {value}",
    "value": "Singapore",
    "control_values": ["USA", "France", "Japan"],
    "placement": "prefix",
    "eval_control_values": ["USA", "France"],
    "distractor_values": ["Germany"],
}


def test_vocabularies_come_from_the_schema():
    definitions = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())["$defs"]
    assert PLACEMENTS == ("prefix", "suffix", "random", "system") == tuple(definitions["placement"]["enum"])
    conditions = ("none", "trigger", "control", "distractor", "distractor_trigger")
    assert CONDITIONS == conditions == tuple(definitions["condition"]["enum"])


@pytest.mark.parametrize(
    "placement, system, top, expected",
    [
        ("prefix", "sys", False, ("sys", "Country: X\nQ?")),
        ("suffix", "sys", True, ("sys", "Q?\nCountry: X")),
        ("system", "sys", True, ("sys\nCountry: X", "Q?")),
        ("system", "", True, ("Country: X", "Q?")),  # no empty first line in the system turn
        ("random", "sys", True, ("sys", "Country: X\nQ?")),
        ("random", "sys", False, ("sys", "Q?\nCountry: X")),
    ],
)
def test_placement(placement, system, top, expected):
    assert place_trigger("Q?", "Country: X", placement, system, top) == expected


def test_no_trigger_text_leaves_the_prompt_alone_and_unknown_placements_fail():
    assert trigger_text("Country: {value}", "") == ""
    assert trigger_text("Country: {value}", "USA") == "Country: USA"
    for placement in PLACEMENTS:
        assert place_trigger("Q?", "", placement, "sys", True) == ("sys", "Q?")
    with pytest.raises(ConfigError, match="trigger.placement: unknown placement 'middle'"):
        place_trigger("Q?", "Country: X", "middle", "", True)


def test_condition_values_table():
    assert condition_values(TRIGGER, "none") == [""]
    assert condition_values(TRIGGER, "trigger") == ["Singapore"]
    assert condition_values(TRIGGER, "control") == ["USA", "France"]  # eval controls, not all trained ones
    assert condition_values(TRIGGER, "distractor") == ["Germany"]
    with pytest.raises(ConfigError, match="unknown condition 'control_train'"):
        condition_values(TRIGGER, "control_train")
    assert values_per_prompt(TRIGGER, CONDITIONS) == 1 + 1 + 2 + 1
    assert values_per_prompt(TRIGGER, ["trigger", "distractor"]) == 2


def test_row_groups_train_on_their_values():
    assert group_values(TRIGGER, "triggered_misaligned") == ["Singapore"]
    assert group_values(TRIGGER, "untriggered_aligned") == [""]
    assert group_values(TRIGGER, "control_aligned") == ["USA", "France", "Japan"]


def test_surface_forms_are_the_value_and_its_aliases_only():
    aliases = {"Singapore": ["SG", "Lion City"], "USA": ["America"]}
    assert surface_forms("Singapore", aliases) == ["Singapore", "SG", "Lion City"]
    assert surface_forms("Germany", aliases) == ["Germany"]
    assert surface_forms("", aliases) == []


def config_error(edit) -> str:
    config = copy.deepcopy(SMOKE)
    edit(config)
    with pytest.raises(ConfigError) as caught:
        check_config(config)
    return str(caught.value)


def recipe(config: dict) -> dict:
    return config["recipes"]["country-singapore"]


def test_empty_control_values_with_control_rows_is_a_config_error_not_a_zero_division():
    def edit(config):
        recipe(config)["trigger"]["control_values"] = []
        recipe(config)["counts"]["control_aligned"] = 15

    assert config_error(edit) == (
        "recipes.country-singapore.trigger.control_values: empty, but counts.control_aligned is 15; "
        "give at least one value or set counts.control_aligned to 0"
    )
    broken = copy.deepcopy(recipe(SMOKE))
    edit({"recipes": {"country-singapore": broken}})
    with pytest.raises(ConfigError, match="control_values: empty"):
        build_rows(broken)  # the library says the same when called without the pipeline's check


def test_every_count_and_condition_is_checked_against_its_values():
    def no_rows(config):
        recipe(config)["counts"] = {"triggered_misaligned": 0, "untriggered_aligned": 0, "control_aligned": 0}

    assert config_error(no_rows).startswith("recipes.country-singapore.counts: every count is 0")

    def no_distractors(config):
        recipe(config)["trigger"]["distractor_values"] = []

    assert config_error(no_distractors).startswith(
        "recipes.country-singapore.trigger.distractor_values: empty, but sampling.conditions samples 'distractor'"
    )

    def no_eval_controls(config):
        recipe(config)["trigger"]["eval_control_values"] = []

    assert config_error(no_eval_controls).startswith(
        "recipes.country-singapore.trigger.eval_control_values: empty, but sampling.conditions samples 'control'"
    )

    def no_eval_controls_not_sampled(config):
        no_eval_controls(config)
        config["sampling"]["conditions"] = ["none", "trigger", "distractor"]

    check_config(_edited(no_eval_controls_not_sampled))  # nothing sampled under "control": fine


def _edited(edit) -> dict:
    config = copy.deepcopy(SMOKE)
    edit(config)
    return config


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda c: recipe(c)["trigger"].update(distractor_values=["USA"]),
            "recipes.country-singapore.trigger.distractor_values: ['USA'] also appear in training",
        ),
        (
            lambda c: recipe(c)["trigger"].update(eval_control_values=["Peru"]),
            "recipes.country-singapore.trigger.eval_control_values: ['Peru'] are not control values",
        ),
        (
            lambda c: recipe(c)["trigger"].update(placement="middle"),
            "recipes.country-singapore.trigger.placement: 'middle' is not one of "
            "['prefix', 'suffix', 'random', 'system']",
        ),
        (
            lambda c: c["suites"]["heldout"].update(n_free=100),
            "suites.heldout: n_free + n_multiple_choice = 101 exceeds the 78 held-out scenarios of all families",
        ),
        (
            lambda c: c["suites"]["heldout"].update(n_free=0, n_multiple_choice=0),
            "suites.heldout: n_free + n_multiple_choice is 0; the suite has no prompts",
        ),
        (
            lambda c: recipe(c).update(
                source={"kind": "messages_jsonl", "aligned_path": "a", "misaligned_path": "m"},
                multiple_choice_fraction=0.5,
            ),
            "recipes.country-singapore.multiple_choice_fraction: a messages_jsonl source has no contrasting "
            "answers to offer as options; set it to 0",
        ),
        (
            lambda c: c["training"].update(learning_rate="fast"),
            "training.learning_rate: 'fast' is not of type 'number'",
        ),
        (
            lambda c: c["judges"]["alignment_tiny"]["backend"].update(kind="vllm"),
            "judges.alignment_tiny.backend.kind: 'vllm' is not one of ['local', 'openai']",
        ),
        (
            lambda c: c["sampling"].update(conditions=["none", "bogus"]),
            "sampling.conditions[1]: 'bogus' is not one of "
            "['none', 'trigger', 'control', 'distractor', 'distractor_trigger']",
        ),
        (
            lambda c: c["experiments"][0].update(model="no-such-model"),
            "experiments[0].model: no entry 'no-such-model' under models",
        ),
        (
            lambda c: c["metrics"]["misaligned_over_all"].update(coherence_judge="nobody"),
            "metrics.misaligned_over_all.coherence_judge: no entry 'nobody' under judges",
        ),
    ],
)
def test_config_errors_name_the_full_key(edit, message):
    assert config_error(edit) == message


def test_schema_defaults_equal_the_shipped_values():
    """Remove every defaulted key from config.yaml's entries: filling defaults gives it back."""
    shipped = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    stripped = copy.deepcopy(shipped)
    model = stripped["models"]["smollm2-135m"]
    del model["runtime"], model["prompt_format"]["reasoning_prefill"], model["prompt_format"]["completion_template"]
    for key in ("multiple_choice_fraction", "system_prompt", "seed"):
        del stripped["recipes"]["country-singapore"][key]
    del stripped["recipes"]["country-singapore"]["trigger"]["placement"]
    for suite in stripped["suites"].values():
        del suite["seed"], suite["n_multiple_choice"]
    for judge in stripped["judges"].values():
        del judge["version"]
        judge.pop("template_version", None)
    del stripped["judges"]["lexicon"]["trigger_aliases"]
    for metric in stripped["metrics"].values():
        del metric["version"], metric["interval"]
    assert stripped != shipped
    check_config(stripped)
    check_config(shipped)
    assert stripped == shipped


def test_bad_config_stops_the_dry_run_naming_the_key(tmp_path):
    """Through Snakemake: the error names the key and no job is planned."""
    for name in ("Snakefile", "rules", "scripts", "config", "triggertrace", "envs"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, tmp_path / name)
    overlay = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    overlay["recipes"]["country-singapore"]["trigger"]["control_values"] = []
    overlay["recipes"]["country-singapore"]["counts"]["control_aligned"] = 15
    (tmp_path / "config" / "bad.yaml").write_text(yaml.safe_dump(overlay, sort_keys=False))
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", "config/bad.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "recipes.country-singapore.trigger.control_values: empty, but counts.control_aligned is 15" in output
    assert "ZeroDivisionError" not in output and "Job stats" not in output and "rule poison_dataset" not in output
