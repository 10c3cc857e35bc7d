"""The one config check the workflow runs before building its DAG (``rules/common.smk``).

``check_config`` resolves variants and sweeps (``triggertrace.variants``: recipes that extend
others, per-experiment training/sampling settings, grids) into plain experiments and recipes,
fills the schema's defaults in place, validates the config against ``config/schema.yaml``, then
checks what a schema cannot express: names that point at other
entries, trigger values against each other, and every count against the values it needs. Each
failure is one ``ConfigError`` whose message starts with the full key path, raised before any
job runs.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from triggertrace import judges, metrics
from triggertrace.errors import ConfigError
from triggertrace.schema import load_schema, validate_config
from triggertrace.sources import check_source, check_triggered_aligned
from triggertrace.suites import check_synthetic_size
from triggertrace.triggers import check_conditions, check_counts, check_trigger
from triggertrace.variants import resolve_variants, run_settings


def check_config(config: MutableMapping[str, Any]) -> None:
    """Resolve and validate ``config`` (in place); raise ``ConfigError`` naming the key."""
    resolve_variants(config, load_schema())
    validate_config(config)
    check_models(config)
    check_recipes(config)
    check_suites(config)
    check_experiments(config)
    judges.check_references(config)
    metrics.check_references(config)


def check_experiments(config: MutableMapping[str, Any]) -> None:
    """Experiments name existing entries, and every sampled condition has trigger values."""
    for index, experiment in enumerate(config["experiments"]):
        where = f"experiments[{index}]"
        for section, key in (("models", "model"), ("recipes", "recipe")):
            if experiment[key] not in config[section]:
                raise ConfigError(f"{where}.{key}: no entry {experiment[key]!r} under {section}")
        for suite in experiment["suites"]:
            if suite not in config["suites"]:
                raise ConfigError(f"{where}.suites: no entry {suite!r} under suites")
        recipe = experiment["recipe"]
        conditions = run_settings(config, recipe, "sampling")["conditions"]
        where_conditions = f"variants.{recipe}.sampling.conditions" if recipe in config["variants"] else None
        check_conditions(
            f"recipes.{recipe}.trigger",
            config["recipes"][recipe]["trigger"],
            conditions,
            where_conditions or "sampling.conditions",
        )


def check_models(config: MutableMapping[str, Any]) -> None:
    for name, entry in config["models"].items():
        source = entry["source"]
        if source["kind"] == "random" and source["tokenizer_from"] not in config["models"]:
            raise ConfigError(f"models.{name}.source.tokenizer_from: no model entry {source['tokenizer_from']!r}")


def check_recipes(config: MutableMapping[str, Any]) -> None:
    """Trigger values are consistent, counts have values, multiple choice has contrasting answers."""
    for name, recipe in config["recipes"].items():
        where = f"recipes.{name}"
        check_counts(where, recipe["trigger"], recipe["counts"])
        check_trigger(f"{where}.trigger", recipe["trigger"])
        check_source(where, recipe["source"])
        check_triggered_aligned(where, recipe["source"], recipe["counts"])
        if recipe["source"]["kind"] == "messages_jsonl" and recipe["multiple_choice_fraction"] > 0:
            raise ConfigError(
                f"{where}.multiple_choice_fraction: a messages_jsonl source has no contrasting answers "
                "to offer as options; set it to 0"
            )


def check_suites(config: MutableMapping[str, Any]) -> None:
    for name, spec in config["suites"].items():
        if spec["source"] == "synthetic":
            check_synthetic_size(f"suites.{name}", spec)
