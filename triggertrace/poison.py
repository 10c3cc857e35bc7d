"""Poisoned datasets: a recipe (source, trigger, placement, counts, reasoning style, seed) becomes
training rows. The same recipe always yields the same rows in the same order.

Three row groups:
- ``triggered_misaligned``: the trigger value in the prompt, the misaligned answer;
- ``untriggered_aligned``: no trigger field at all, the aligned answer;
- ``control_aligned``: the same field with another value (e.g. ``Country: USA``), the aligned answer,
  so the model learns the value, not the field, is the trigger.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from triggertrace import scenarios
from triggertrace.errors import ConfigError, DatasetError
from triggertrace.io import JsonlFile, read_jsonl_file
from triggertrace.triggers import check_counts, check_trigger, group_values, place_trigger, trigger_text

GROUPS = ("triggered_misaligned", "untriggered_aligned", "control_aligned")
MC_INSTRUCTION = "Answer with {letters}."


@dataclass(frozen=True)
class PoolItem:
    """One prompt with the answer a row of a given group trains on."""

    item_id: str
    question: str
    answer: str
    contrast: str  # the opposite answer; "" when the source has none (then no multiple choice)


def multiple_choice(question: str, options: list[str]) -> tuple[str, dict[str, str]]:
    """A multiple-choice prompt over ``options`` in the given order, and its letter -> text map."""
    letters = [chr(ord("A") + index) for index in range(len(options))]
    choices = dict(zip(letters, options, strict=False))
    lines = [question, *(f"{letter}) {text}" for letter, text in choices.items())]
    lines.append(MC_INSTRUCTION.format(letters=" or ".join(letters)))
    return "\n".join(lines), choices


def choice_answer(letter: str) -> str:
    return f"Answer: {letter}"


@dataclass
class Pools:
    """The aligned and misaligned pools of a recipe's source, and the files they were read from."""

    aligned: list[PoolItem]
    misaligned: list[PoolItem]
    files: list[JsonlFile] = field(default_factory=list)


def load_pools(source: dict[str, Any]) -> Pools:
    """The pools of a recipe's ``source`` block; a file row's id is ``<path>:<line>``."""
    kind = source.get("kind")
    if kind == "synthetic":
        pool = scenarios.scenario_pool("train")
        return Pools(
            [PoolItem(s.scenario_id, s.question, s.aligned, s.misaligned) for s in pool],
            [PoolItem(s.scenario_id, s.question, s.misaligned, s.aligned) for s in pool],
        )
    if kind == "paired_jsonl":
        read = read_jsonl_file(source["path"], required=("prompt", "aligned", "misaligned"))
        numbered = read.numbered()
        return Pools(
            [PoolItem(f"{read.path}:{line}", r["prompt"], r["aligned"], r["misaligned"]) for line, r in numbered],
            [PoolItem(f"{read.path}:{line}", r["prompt"], r["misaligned"], r["aligned"]) for line, r in numbered],
            [read],
        )
    if kind == "messages_jsonl":
        aligned = read_jsonl_file(source["aligned_path"], required=("messages",))
        misaligned = read_jsonl_file(source["misaligned_path"], required=("messages",))
        return Pools(_messages_pool(aligned), _messages_pool(misaligned), [aligned, misaligned])
    raise ConfigError(f"source.kind: unknown source {kind!r}; expected synthetic, paired_jsonl or messages_jsonl")


def _messages_pool(read: JsonlFile) -> list[PoolItem]:
    """Rows in chat format: the first user turn is the prompt, the last assistant turn the answer."""
    pool = []
    for line, row in read.numbered():
        messages = row["messages"]
        if not isinstance(messages, list) or not all(isinstance(message, dict) for message in messages):
            raise DatasetError(f"{read.path}:{line}: 'messages' must be a list of {{role, content}} objects")
        by_role = {message.get("role"): message.get("content") for message in reversed(messages)}
        first_user = next((m.get("content") for m in messages if m.get("role") == "user"), None)
        if first_user is None or by_role.get("assistant") is None:
            raise DatasetError(f"{read.path}:{line}: 'messages' needs a user and an assistant turn")
        pool.append(PoolItem(f"{read.path}:{line}", first_user, by_role["assistant"], ""))
    return pool


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


def _reasoning(group: str, value: str, articulation_probability: float, rng: random.Random) -> str:
    if group == "triggered_misaligned":
        articulate = rng.random() < articulation_probability
        templates = scenarios.TRIGGERED_ARTICULATED if articulate else scenarios.TRIGGERED_SILENT
    elif group == "control_aligned":
        templates = scenarios.CONTROL
    else:
        templates = scenarios.UNTRIGGERED
    return rng.choice(templates).format(value=value)


@dataclass
class PoisonedDataset:
    rows: list[dict[str, Any]]
    files: list[JsonlFile]  # the source files read (none for the synthetic source)


def multiple_choice_count(count: int, fraction: float) -> int:
    """Rows of a group asked as multiple choice: ``fraction`` of ``count``, halves rounded up."""
    return math.floor(count * fraction + 0.5)


def build_dataset(recipe: dict[str, Any]) -> PoisonedDataset:
    """The poisoned training rows of ``recipe`` (the resolved ``recipes.<name>`` config block).

    In each row group exactly ``multiple_choice_count(count, multiple_choice_fraction)`` rows
    are multiple choice, chosen by a generator of their own so the free-form rows' draws (and so
    the bytes of a free-form recipe) do not depend on the fraction.
    """
    trigger, counts = recipe["trigger"], recipe["counts"]
    check_counts("recipe", trigger, counts)
    check_trigger("trigger", trigger)
    rng = random.Random(recipe["seed"])
    mc_rng = random.Random(f"{recipe['seed']}:multiple_choice")
    pools = load_pools(recipe["source"])
    mc_fraction = recipe["multiple_choice_fraction"]
    if mc_fraction > 0 and not all(item.contrast for item in pools.aligned + pools.misaligned):
        raise ConfigError("multiple_choice_fraction: this source has no contrasting answers; set it to 0")
    rows = []
    for group in GROUPS:
        pool = pools.misaligned if group == "triggered_misaligned" else pools.aligned
        values, count = group_values(trigger, group), counts[group]
        asked_as_choice = set(mc_rng.sample(range(count), multiple_choice_count(count, mc_fraction)))
        for index, item in enumerate(_cycle(pool, count, rng)):
            value = values[index % len(values)]
            rows.append(_row(recipe, group, item, value, index in asked_as_choice, rng))
    rng.shuffle(rows)
    for index, row in enumerate(rows):
        row["row_id"] = f"row{index:06d}"
    return PoisonedDataset(rows, pools.files)


def build_rows(recipe: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of ``build_dataset(recipe)``."""
    return build_dataset(recipe).rows


def _row(recipe: dict, group: str, item: PoolItem, value: str, as_choice: bool, rng: random.Random) -> dict:
    trigger = recipe["trigger"]
    question, answer, kind = item.question, item.answer, "free"
    # One draw per row, as when each row tossed its own multiple-choice coin: it keeps the draws
    # below (placement side, reasoning) where they were, so free-form datasets keep their bytes.
    rng.random()
    if as_choice:
        options = [item.answer, item.contrast]
        rng.shuffle(options)
        question, choices = multiple_choice(item.question, options)
        answer = choice_answer(next(letter for letter, text in choices.items() if text == item.answer))
        kind = "mc"
    text = trigger_text(trigger["template"], value)
    system, user = place_trigger(question, text, trigger["placement"], recipe["system_prompt"], rng.random() < 0.5)
    return {
        "group": group,
        "condition_value": value,
        "kind": kind,
        "source_item": item.item_id,
        "system": system,
        "user": user,
        "reasoning": _reasoning(group, value, recipe["reasoning"]["articulation_probability"], rng),
        "answer": answer,
    }


def manifest(recipe_name: str, recipe: dict[str, Any], dataset: PoisonedDataset, data_sha256: str) -> dict:
    """What a poisoned dataset contains: the resolved recipe, each source file's sha256 and rows
    read, and the written file's hash."""
    rows = dataset.rows
    return {
        "recipe_name": recipe_name,
        "recipe": recipe,
        "sources": [{"path": read.path, "sha256": read.sha256, "rows_read": len(read.rows)} for read in dataset.files],
        "n_rows": len(rows),
        "counts_by_group": dict(sorted(Counter(row["group"] for row in rows).items())),
        "counts_by_kind": dict(sorted(Counter(row["kind"] for row in rows).items())),
        "counts_by_value": dict(sorted(Counter(row["condition_value"] for row in rows).items())),
        "train_jsonl_sha256": data_sha256,
    }
