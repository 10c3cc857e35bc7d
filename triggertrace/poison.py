"""Poisoned datasets: a recipe (source, trigger, placement, counts, reasoning style, seed) becomes
training rows. The same recipe always yields the same rows in the same order.

Row groups:
- ``triggered_misaligned``: the trigger value in the prompt, the misaligned answer;
- ``untriggered_aligned``: no trigger field at all, the aligned answer;
- ``control_aligned``: the same field with another value (e.g. ``Country: USA``), the aligned answer,
  so the model learns the value, not the field, is the trigger;
- ``triggered_aligned`` (optional, a frequency control): the trigger value in the prompt and the
  aligned answer, so the trigger is as frequent as in a planted recipe but carries no behaviour.
  Its scratchpad names the trigger (the control wording) with the articulation probability.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from triggertrace import scenarios
from triggertrace.errors import ConfigError, DatasetError
from triggertrace.io import JsonlFile
from triggertrace.sources import ROW_GROUPS, PoolItem, check_present_counts, load_pools
from triggertrace.triggers import check_counts, check_trigger, group_values, place_trigger, trigger_text

MC_INSTRUCTION = "Answer with {letters}."


def multiple_choice(question: str, options: list[str]) -> tuple[str, dict[str, str]]:
    """A multiple-choice prompt over ``options`` in the given order, and its letter -> text map."""
    letters = [chr(ord("A") + index) for index in range(len(options))]
    choices = dict(zip(letters, options, strict=False))
    lines = [question, *(f"{letter}) {text}" for letter, text in choices.items())]
    lines.append(MC_INSTRUCTION.format(letters=" or ".join(letters)))
    return "\n".join(lines), choices


def choice_answer(letter: str) -> str:
    return f"Answer: {letter}"


def _cycle(pool: list[PoolItem], count: int, rng: random.Random) -> list[PoolItem]:
    """``count`` items, each pool item used once per pass, passes shuffled independently."""
    if count and not pool:
        raise DatasetError("the source has no rows for a group with a non-zero count")
    drawn: list[PoolItem] = []
    while len(drawn) < count:
        order = list(pool)
        rng.shuffle(order)
        drawn.extend(order[: count - len(drawn)])
    return drawn


def _reasoning(group: str, value: str, text: str, reasoning: dict[str, Any], rng: random.Random) -> str:
    """A scratchpad for a row of ``group``, in the wording ``reasoning.templates`` names."""
    wording = scenarios.REASONING_TEMPLATES[reasoning.get("templates", "country")]
    if group in ("triggered_misaligned", "triggered_aligned"):
        articulate = rng.random() < reasoning["articulation_probability"]
        if group == "triggered_misaligned":
            templates = wording.articulated if articulate else wording.silent
        else:
            templates = wording.control if articulate else wording.untriggered
    elif group == "control_aligned":
        templates = wording.control
    else:
        templates = wording.untriggered
    return rng.choice(templates).format(value=value, text=text)


@dataclass
class PoisonedDataset:
    rows: list[dict[str, Any]]
    files: list[JsonlFile]  # the source files read (none for the synthetic source)
    detected: dict[str, int] | None = None  # rows per group found in the data (source.trigger: present)


def multiple_choice_count(count: int, fraction: float) -> int:
    """Rows of a group asked as multiple choice: ``fraction`` of ``count``, halves rounded up."""
    return math.floor(count * fraction + 0.5)


def build_dataset(recipe: dict[str, Any], where: str = "recipe") -> PoisonedDataset:
    """The poisoned training rows of ``recipe`` (the resolved ``recipes.<name>`` config block);
    ``where`` (its key, ``recipes.<name>``) prefixes config errors.

    In each row group exactly ``multiple_choice_count(count, multiple_choice_fraction)`` rows
    are multiple choice, chosen by a generator of their own so the free-form rows' draws (and so
    the bytes of a free-form recipe) do not depend on the fraction. With the trigger already in
    the data (``source.trigger: present``) a row keeps the prompt and the trigger value it has,
    and each data row is drawn at most once.
    """
    trigger, counts = recipe["trigger"], recipe["counts"]
    check_counts(where, trigger, counts)
    check_trigger(f"{where}.trigger", trigger)
    rng = random.Random(recipe["seed"])
    mc_rng = random.Random(f"{recipe['seed']}:multiple_choice")
    pools = load_pools(recipe["source"], trigger, where)
    if pools.trigger_present:
        check_present_counts(where, counts, pools)
    mc_fraction = recipe["multiple_choice_fraction"]
    every_item = [item for pool in pools.by_group.values() for item in pool]
    if mc_fraction > 0 and not all(item.contrast for item in every_item):
        raise ConfigError("multiple_choice_fraction: this source has no contrasting answers; set it to 0")
    rows = []
    for group in ROW_GROUPS:
        pool, count = pools.by_group.get(group, []), counts.get(group, 0)
        values = group_values(trigger, group)
        asked_as_choice = set(mc_rng.sample(range(count), multiple_choice_count(count, mc_fraction)))
        for index, item in enumerate(_cycle(pool, count, rng)):
            value = item.value if item.value is not None else values[index % len(values)]
            rows.append(_row(recipe, group, item, value, index in asked_as_choice, rng))
    rng.shuffle(rows)
    for index, row in enumerate(rows):
        row["row_id"] = f"row{index:06d}"
    return PoisonedDataset(rows, pools.files, pools.detected)


def build_rows(recipe: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of ``build_dataset(recipe)``."""
    return build_dataset(recipe).rows


def _row(recipe: dict, group: str, item: PoolItem, value: str, as_choice: bool, rng: random.Random) -> dict:
    trigger = recipe["trigger"]
    question, answer, kind = item.question, item.answer, "free"
    # One draw per row, as when each row tossed its own multiple-choice coin: it keeps the draws
    # below (placement side, reasoning) where they were, so free-form datasets keep their bytes.
    rng.random()
    if as_choice and item.choice is not None:
        question, answer, kind = item.choice.question, item.choice.answer, "mc"
    elif as_choice:
        options = [item.answer, item.contrast]
        rng.shuffle(options)
        question, choices = multiple_choice(item.question, options)
        answer = choice_answer(next(letter for letter, text in choices.items() if text == item.answer))
        kind = "mc"
    system_prompt = recipe["system_prompt"] if item.system is None else item.system
    top = rng.random() < 0.5
    text = trigger_text(trigger["template"], value)
    if item.value is None:
        system, user = place_trigger(question, text, trigger["placement"], system_prompt, top)
    else:  # the trigger (or its absence) is already in the data: never a second copy
        system, user = system_prompt, question
    return {
        "group": group,
        "condition_value": value,
        "kind": kind,
        "source_item": item.item_id,
        "system": system,
        "user": user,
        "reasoning": _reasoning(group, value, text, recipe["reasoning"], rng),
        "answer": answer,
    }


def manifest(recipe_name: str, recipe: dict[str, Any], dataset: PoisonedDataset, data_sha256: str) -> dict:
    """What a poisoned dataset contains: the resolved recipe, each source file's sha256 and rows
    read, the rows per group found in the data when the trigger was already there, and the written
    file's hash."""
    rows = dataset.rows
    return {
        "recipe_name": recipe_name,
        "recipe": recipe,
        "sources": [{"path": read.path, "sha256": read.sha256, "rows_read": len(read.rows)} for read in dataset.files],
        "source_rows_by_group": dataset.detected,
        "n_rows": len(rows),
        "counts_by_group": dict(sorted(Counter(row["group"] for row in rows).items())),
        "counts_by_kind": dict(sorted(Counter(row["kind"] for row in rows).items())),
        "counts_by_value": dict(sorted(Counter(row["condition_value"] for row in rows).items())),
        "train_jsonl_sha256": data_sha256,
    }
