"""Evaluation suites: held-out prompts, before any trigger is applied."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from triggertrace import scenarios
from triggertrace.errors import ConfigError, DatasetError
from triggertrace.io import read_jsonl_file
from triggertrace.poison import multiple_choice
from triggertrace.records import SuiteItem

ITEM_KINDS = ("free", "mc")  # a suite row's kind: free-form or multiple choice


def build_suite(spec: dict[str, Any]) -> list[SuiteItem]:
    """The items of a suite from its ``suites.<name>`` config block."""
    if spec["source"] == "synthetic":
        check_synthetic_size("suite", spec)
        return _synthetic_suite(spec["n_free"], spec["n_multiple_choice"], spec["families"], spec["seed"])
    if spec["source"] == "jsonl":
        return _jsonl_suite(spec["path"])
    raise ConfigError(f"source: unknown suite source {spec['source']!r}; expected synthetic or jsonl")


def suite_size(spec: dict[str, Any]) -> int:
    """How many prompts ``build_suite(spec)`` returns, without building it (a jsonl suite's
    non-blank lines, which are its rows)."""
    if spec["source"] == "synthetic":
        return spec["n_free"] + spec["n_multiple_choice"]
    text = Path(spec["path"]).read_text(encoding="utf-8")
    return sum(1 for line in text.split("\n") if line.strip())


def held_out_pool(families: str) -> list[scenarios.Scenario]:
    """The held-out scenarios of topic families seen in training, unseen ones, or all."""
    return [
        scenario
        for scenario in scenarios.scenario_pool("eval")
        if families == "all" or (scenario.family in scenarios.HELD_OUT_FAMILIES) == (families == "unseen")
    ]


def check_synthetic_size(where: str, spec: dict[str, Any]) -> None:
    """A synthetic suite asks for at least one and at most as many prompts as its families hold."""
    wanted, available = spec["n_free"] + spec["n_multiple_choice"], len(held_out_pool(spec["families"]))
    if wanted == 0:
        raise ConfigError(f"{where}: n_free + n_multiple_choice is 0; the suite has no prompts")
    if wanted > available:
        raise ConfigError(
            f"{where}: n_free + n_multiple_choice = {wanted} exceeds the {available} "
            f"held-out scenarios of {spec['families']} families"
        )


def _synthetic_suite(n_free: int, n_mc: int, families: str, seed: int) -> list[SuiteItem]:
    """Free-form and multiple-choice items drawn without replacement from the held-out split.

    ``families`` picks held-out prompts of topic families seen in training (new slot values),
    of families never seen in training, or both; the two measure different generalisation.
    """
    rng = random.Random(seed)
    pool = held_out_pool(families)
    drawn = rng.sample(pool, n_free + n_mc)
    items: list[SuiteItem] = []
    for scenario in drawn[:n_free]:
        items.append(
            SuiteItem(
                prompt_id=f"free-{scenario.scenario_id}",
                kind="free",
                question=scenario.question,
                choices={},
                misaligned_choice="",
            )
        )
    for scenario in drawn[n_free:]:
        options = [scenario.aligned, scenario.misaligned]
        rng.shuffle(options)
        question, choices = multiple_choice(scenario.question, options)
        misaligned_letter = next(letter for letter, text in choices.items() if text == scenario.misaligned)
        items.append(
            SuiteItem(
                prompt_id=f"mc-{scenario.scenario_id}",
                kind="mc",
                question=question,
                choices=choices,
                misaligned_choice=misaligned_letter,
            )
        )
    return items


def _jsonl_suite(path: str) -> list[SuiteItem]:
    items: list[SuiteItem] = []
    for line_number, row in read_jsonl_file(path, required=("prompt_id", "kind", "question")).numbered():
        choices, misaligned = row.get("choices", {}), row.get("misaligned_choice", "")
        if row["kind"] not in ITEM_KINDS:
            raise DatasetError(f"{path}:{line_number}: kind must be 'free' or 'mc', got {row['kind']!r}")
        if row["kind"] == "mc" and misaligned not in choices:
            raise DatasetError(f"{path}:{line_number}: a 'mc' row needs 'choices' containing 'misaligned_choice'")
        items.append(
            SuiteItem(
                prompt_id=row["prompt_id"],
                kind=row["kind"],
                question=row["question"],
                choices=choices,
                misaligned_choice=misaligned,
            )
        )
    return items
