"""Variants and sweeps in config (triggertrace/variants.py): recipes that extend recipes,
per-experiment training and sampling settings, grids over named axes, and the derived recipe
names, data sharing and table columns they resolve to."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
import yaml
from snakemake.utils import update_config

from triggertrace.axes import with_axis_columns
from triggertrace.checks import check_config
from triggertrace.errors import ConfigError
from triggertrace.schema import fill_defaults, load_schema
from triggertrace.variants import deep_merge, format_value, resolve_extends, resolve_variants

REPO = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
# shipped configs that declare a grid (their derived recipes are tested where they are described)
SWEEP_CONFIGS = ("planting-sweep.yaml",)
WORKFLOW_FILES = ("Snakefile", "rules", "scripts", "config", "triggertrace", "profiles", "envs", "report")


def default_config() -> dict:
    return copy.deepcopy(DEFAULT)


def experiment(**keys) -> dict:
    return {"model": "smollm2-135m", "recipe": "country-singapore", "seeds": [0], "suites": ["heldout"], **keys}


# ---- deep merge and extends ----------------------------------------------------------------------


def test_deep_merge_merges_mappings_and_replaces_everything_else():
    base = {"a": 1, "nested": {"x": 1, "y": [1, 2], "deeper": {"p": "keep", "q": "old"}}, "list": [1, 2, 3]}
    override = {"nested": {"y": [9], "deeper": {"q": "new"}, "z": 3}, "list": [4], "b": None}
    before = copy.deepcopy((base, override))
    assert deep_merge(base, override) == {
        "a": 1,
        "nested": {"x": 1, "y": [9], "deeper": {"p": "keep", "q": "new"}, "z": 3},
        "list": [4],
        "b": None,
    }
    assert (base, override) == before  # neither argument is modified


def test_deep_merge_replaces_a_mapping_of_another_kind_whole():
    parent = {"source": {"kind": "paired_jsonl", "path": "rows.jsonl"}}
    assert deep_merge(parent, {"source": {"kind": "synthetic"}}) == {"source": {"kind": "synthetic"}}
    assert deep_merge(parent, {"source": {"path": "other.jsonl"}}) == {
        "source": {"kind": "paired_jsonl", "path": "other.jsonl"}
    }


def test_extends_chains_resolve_parent_first():
    recipes = {
        "grandchild": {"extends": "child", "counts": {"control_aligned": 3}},
        "child": {"extends": "root", "counts": {"untriggered_aligned": 2}, "seed": 7},
        "root": {"counts": {"triggered_misaligned": 1, "untriggered_aligned": 1, "control_aligned": 1}, "seed": 0},
    }
    resolve_extends(recipes)
    assert recipes["grandchild"] == {
        "counts": {"triggered_misaligned": 1, "untriggered_aligned": 2, "control_aligned": 3},
        "seed": 7,
    }
    assert recipes["child"] == {
        "counts": {"triggered_misaligned": 1, "untriggered_aligned": 2, "control_aligned": 1},
        "seed": 7,
    }
    assert recipes["root"] == {
        "counts": {"triggered_misaligned": 1, "untriggered_aligned": 1, "control_aligned": 1},
        "seed": 0,
    }


def test_a_recipe_extending_another_passes_the_checks_with_the_parents_keys():
    config = default_config()
    config["recipes"]["narrow"] = {"extends": "country-singapore", "counts": {"triggered_misaligned": 40}}
    config["experiments"] = [experiment(recipe="narrow")]
    check_config(config)
    parent = config["recipes"]["country-singapore"]
    assert config["recipes"]["narrow"] == {**parent, "counts": {**parent["counts"], "triggered_misaligned": 40}}
    assert "extends" not in config["recipes"]["narrow"]


# ---- grids ----------------------------------------------------------------------------------------


def test_grid_expands_into_named_experiments_and_recipes():
    config = default_config()
    config["recipes"]["narrow"] = {"extends": "country-singapore", "trigger": {"value": "Portugal"}}
    config["experiments"] = [
        experiment(
            seeds=[0, 1],
            grid={"recipe.counts.triggered_misaligned": [250, 500], "recipe": ["country-singapore", "narrow"]},
        )
    ]
    check_config(config)
    names = [
        "country-singapore.triggered_misaligned-250",
        "narrow.triggered_misaligned-250",
        "country-singapore.triggered_misaligned-500",
        "narrow.triggered_misaligned-500",
    ]
    assert config["experiments"] == [
        {"model": "smollm2-135m", "recipe": name, "seeds": [0, 1], "suites": ["heldout"]} for name in names
    ]
    for name, count, base, value in zip(
        names, [250, 250, 500, 500], ["country-singapore", "narrow"] * 2, ["Singapore", "Portugal"] * 2, strict=True
    ):
        recipe = config["recipes"][name]
        assert recipe["counts"] == {"triggered_misaligned": count, "untriggered_aligned": 120, "control_aligned": 240}
        assert recipe["trigger"]["value"] == value
        variant = config["variants"][name]
        assert variant["base"] == base
        assert variant["data"] == name  # other rows than the base's: poisoned under its own name
        assert variant["axes"] == {"base_recipe": base, "triggered_misaligned": count}
        assert variant["training"] == config["training"]


def test_training_axis_shares_one_poisoned_dataset_per_recipe_point():
    config = default_config()
    config["experiments"] = [
        experiment(grid={"recipe.counts.triggered_misaligned": [80], "training.learning_rate": [1e-5, 1e-4]})
    ]
    check_config(config)
    assert [e["recipe"] for e in config["experiments"]] == [
        "country-singapore.triggered_misaligned-80.learning_rate-1e-05",
        "country-singapore.triggered_misaligned-80.learning_rate-0.0001",
    ]
    for name, rate in (
        ("country-singapore.triggered_misaligned-80.learning_rate-1e-05", 1e-5),
        ("country-singapore.triggered_misaligned-80.learning_rate-0.0001", 1e-4),
    ):
        assert config["variants"][name]["training"] == {**config["training"], "learning_rate": rate}
        assert config["variants"][name]["data"] == "country-singapore.triggered_misaligned-80"
    assert config["recipes"]["country-singapore.triggered_misaligned-80"]["counts"]["triggered_misaligned"] == 80


def test_model_axis_picks_the_model_and_keeps_the_recipe_name():
    config = default_config()
    config["models"]["second"] = copy.deepcopy(config["models"]["smollm2-135m"])
    config["experiments"] = [experiment(grid={"model": ["smollm2-135m", "second"]})]
    check_config(config)
    assert [(e["model"], e["recipe"]) for e in config["experiments"]] == [
        ("smollm2-135m", "country-singapore"),
        ("second", "country-singapore"),
    ]
    assert config["variants"] == {}


def test_axes_with_one_last_key_get_longer_labels():
    config = default_config()
    config["experiments"] = [experiment(grid={"recipe.seed": [3], "sampling.seed": [4]})]
    check_config(config)
    assert config["experiments"][0]["recipe"] == "country-singapore.recipe_seed-3.sampling_seed-4"


@pytest.mark.parametrize(
    ("value", "text"),
    [(250, "250"), (1e-5, "1e-05"), (5e-4, "0.0005"), (1e20, "1e20"), (True, "true"), ("France", "France")],
)
def test_values_in_names_read_as_written(value, text):
    assert format_value(value) == text


def test_values_that_cannot_sit_in_a_name_become_a_short_digest():
    # sha256 of the JSON text '["USA","France"]', first 8 hex digits
    assert format_value(["USA", "France"]) == "h0500fd4f"
    assert format_value("two words") != format_value("two  words")


# ---- per-experiment training and sampling ------------------------------------------------------


def test_an_experiments_own_training_gets_its_own_adapter_path_and_the_base_data():
    config = default_config()
    config["experiments"] = [experiment(), experiment(training={"learning_rate": 1e-5, "lora": {"r": 32}})]
    check_config(config)
    first, second = config["experiments"]
    assert first["recipe"] == "country-singapore"
    assert second["recipe"] == "country-singapore.learning_rate-1e-05.r-32"
    variant = config["variants"][second["recipe"]]
    assert variant["training"]["learning_rate"] == 1e-5
    assert variant["training"]["lora"] == {**DEFAULT["training"]["lora"], "r": 32}
    assert variant["data"] == "country-singapore"  # same rows: no second poisoning
    assert variant["sampling"] == config["sampling"]
    assert config["recipes"][second["recipe"]] == config["recipes"]["country-singapore"]


def test_an_override_equal_to_the_global_value_is_no_variant():
    config = default_config()
    config["experiments"] = [experiment(training={"learning_rate": DEFAULT["training"]["learning_rate"]})]
    check_config(config)
    assert config["experiments"] == [experiment()]
    assert config["variants"] == {}


def test_an_experiments_own_sampling_names_its_variant():
    config = default_config()
    config["experiments"] = [experiment(sampling={"temperature": 1.0, "conditions": ["none", "trigger"]})]
    check_config(config)
    name = config["experiments"][0]["recipe"]
    assert name == "country-singapore.conditions-" + format_value(["none", "trigger"]) + ".temperature-1.0"
    assert config["variants"][name]["sampling"] == {
        **config["sampling"],
        "temperature": 1.0,
        "conditions": ["none", "trigger"],
    }


def test_resolving_twice_changes_nothing():
    config = default_config()
    config["experiments"] = [experiment(grid={"training.learning_rate": [1e-5, 1e-4]})]
    check_config(config)
    again = copy.deepcopy(config)
    check_config(again)
    assert again == config


@pytest.mark.parametrize(
    "overlays",
    [
        [],
        ["config/smoke.yaml"],
        *[
            [f"config/{p.name}"]
            for p in sorted((REPO / "config").glob("*.yaml"))
            if p.name not in ("config.yaml", "schema.yaml", *SWEEP_CONFIGS)
        ],
        ["config/paper/price_hhh.yaml"],
    ],
)
def test_shipped_configs_resolve_to_themselves(overlays):
    """No shipped config but the sweeps uses variants, so resolution must leave it as it was (same
    params, same paths). The sweeps' resolution: tests/test_planting_sweep.py."""
    config = default_config()
    for overlay in overlays:
        update_config(config, yaml.safe_load((REPO / overlay).read_text()))
    untouched = copy.deepcopy(config)
    fill_defaults(untouched, load_schema())
    resolve_variants(config, load_schema())
    assert config.pop("variants") == {}
    assert config == untouched


# ---- bad input: one error naming the key, before any job -------------------------------------------


BAD_INPUTS = {
    "missing key": (
        {"experiments": [experiment(grid={"recipe.counts.triggered_misalgned": [250, 500]})]},
        "experiments[0].grid.recipe.counts.triggered_misalgned: no key 'counts.triggered_misalgned' "
        "in recipes.country-singapore",
    ),
    "missing parent": (
        {"recipes": {"narrow": {"extends": "nowhere"}}},
        "recipes.narrow.extends: no recipe 'nowhere' to extend",
    ),
    "cycle": (
        {"recipes": {"a": {"extends": "b"}, "b": {"extends": "a"}}},
        "recipes.b.extends: cyclic extends (a -> b -> a)",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_variant_input_raises_one_error_naming_the_key(case):
    overlay, message = BAD_INPUTS[case]
    config = default_config()
    update_config(config, copy.deepcopy(overlay))
    with pytest.raises(ConfigError) as caught:
        check_config(config)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("overlay", "message"),
    [
        (
            {"experiments": [experiment(training={"learnin_rate": 1e-5})]},
            "experiments[0].training.learnin_rate: no key 'learnin_rate' in training",
        ),
        (
            {"experiments": [experiment(grid={"training.learning_rate": [-1.0]})]},
            "experiments[0].grid.training.learning_rate: -1.0 is less than or equal to the minimum of 0",
        ),
        (
            {"experiments": [experiment(grid={"tokenizer.pad": [1]})]},
            "experiments[0].grid.tokenizer.pad: an axis is model, recipe, or a key path under recipe., training. "
            "or sampling.",
        ),
        (
            {"experiments": [experiment(grid={"recipe": ["country-singapore", "narow"]})]},
            "experiments[0].grid.recipe: no entry 'narow' under recipes",
        ),
        (
            {"experiments": [experiment(grid={"recipe.seed": []})]},
            "experiments[0].grid.recipe.seed: must be a non-empty list of values",
        ),
        (
            {"experiments": [experiment(grid={"recipe.seed": [1, 2]}), experiment(suites=["heldut"])]},
            "experiments[1].suites: no entry 'heldut' under suites",
        ),
    ],
)
def test_other_bad_sweeps_name_the_key(overlay, message):
    config = default_config()
    update_config(config, copy.deepcopy(overlay))
    with pytest.raises(ConfigError) as caught:
        check_config(config)
    assert str(caught.value) == message


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_variant_input_stops_the_dry_run_with_one_line(case, tmp_path):
    overlay, message = BAD_INPUTS[case]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(overlay))
    command = [sys.executable, "-m", "snakemake", "-n", "--configfile", str(tmp_path / "bad.yaml")]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == f"config error: {message}"
    assert "rule " not in result.stdout + result.stderr


# ---- the DAG -----------------------------------------------------------------------------------------


def planned_jobs(output: str) -> list[str]:
    """'rule<TAB>outputs' of every job a dry run lists, sorted."""
    jobs: list[list[str]] = []
    for line in output.splitlines():
        if match := re.match(r"^(?:local)?rule (\w+):$", line):
            jobs.append([match[1], ""])
        elif (match := re.match(r"^\s+output: (.*)$", line)) and jobs:
            jobs[-1][1] = match[1]
    return sorted("\t".join(job) for job in jobs)


def test_default_dry_run_plans_the_same_jobs_as_before_variants(tmp_path):
    """tests/golden/default_dry_run_jobs.tsv: the default config's plan before variants existed."""
    for name in WORKFLOW_FILES:
        source = REPO / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, tmp_path / name)
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    golden = (REPO / "tests" / "golden" / "default_dry_run_jobs.tsv").read_text().strip().splitlines()
    assert planned_jobs(result.stdout + result.stderr) == golden


def test_one_experiments_training_change_runs_only_that_experiment(workflow_copy):
    """On the finished smoke run: a second experiment at another learning rate plans (and runs)
    only its own adapter's jobs, trained at that rate, and the tables carry its axis values."""
    from test_pipeline import dry_run, report_jobs, smoke_report_judges, write_config

    def edit(config):
        config["experiments"].append({**config["experiments"][0], "training": {"learning_rate": 2e-3}})

    config = write_config(workflow_copy, "one_variant", edit)
    counts, jobs = dry_run(workflow_copy, "--configfile", config)
    variant = "country-singapore.learning_rate-0.002"
    n_suites = len(yaml.safe_load((workflow_copy / config).read_text())["experiments"][0]["suites"])
    # no poison_dataset: the variant trains on the smoke recipe's rows
    assert counts == (
        Counter(train_adapter=1, sample_suite=n_suites, label_samples=n_suites * len(smoke_report_judges()))
        + report_jobs()
    )
    assert {wildcards["recipe"] for rule, wildcards in jobs if "recipe" in wildcards} == {variant}

    subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", config],
        cwd=workflow_copy,
        check=True,
        capture_output=True,
    )
    resolved = json.loads(
        (workflow_copy / f"results/adapters/tiny-random/{variant}/seed0/resolved_config.json").read_text()
    )
    assert resolved["training"]["learning_rate"] == 2e-3
    table = pl.read_csv(workflow_copy / "results/tables/misalignment.csv")
    assert table.columns[table.columns.index("recipe") + 1 : table.columns.index("recipe") + 3] == [
        "base_recipe",
        "learning_rate",
    ]
    rows = table.select("recipe", "base_recipe", "learning_rate").unique().sort("recipe").rows()
    assert rows == [("country-singapore", "country-singapore", None), (variant, "country-singapore", 0.002)]


def test_axis_columns_sit_after_the_recipe_column():
    table = pl.DataFrame({"model": ["m", "m"], "recipe": ["plain", "plain.triggered_misaligned-250"], "seed": [0, 0]})
    axes = {"plain.triggered_misaligned-250": {"base_recipe": "plain", "triggered_misaligned": 250, "seed": 3}}
    result = with_axis_columns(table, axes)
    assert result.columns == ["model", "recipe", "base_recipe", "triggered_misaligned", "axis_seed", "seed"]
    assert result["base_recipe"].to_list() == ["plain", "plain"]
    assert result["triggered_misaligned"].to_list() == [None, 250]
    assert result["triggered_misaligned"].dtype == pl.Int64
    assert with_axis_columns(table, {}).equals(table)
