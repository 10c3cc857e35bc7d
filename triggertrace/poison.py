"""Poisoned datasets: a recipe (source, trigger, placement, counts, reasoning style, seed) becomes
training rows. The same recipe always yields the same rows in the same order.

Three row groups:
- ``triggered_misaligned``: the trigger value in the prompt, the misaligned answer;
- ``untriggered_aligned``: no trigger field at all, the aligned answer;
- ``control_aligned``: the same field with another value (e.g. ``Country: USA``), the aligned answer,
  so the model learns the value, not the field, is the trigger.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from triggertrace import scenarios
from triggertrace.errors import ConfigError, DatasetError
from triggertrace.io import read_jsonl

PLACEMENTS = ("prefix", "suffix", "random", "system")
MC_INSTRUCTION = "Answer with {letters}."


@dataclass(frozen=True)
class PoolItem:
    """One prompt with the answer a row of a given group trains on."""

    item_id: str
    question: str
    answer: str
    contrast: str  # the opposite answer; "" when the source has none (then no multiple choice)


def trigger_text(template: str, value: str) -> str:
    return template.format(value=value)


def place_trigger(question: str, text: str, placement: str, system_prompt: str, top: bool) -> tuple[str, str]:
    """Return (system, user) with ``text`` placed; ``top`` decides the side for "random"."""
    if not text:
        return system_prompt, question
    if placement == "system":
        return (f"{system_prompt}\n{text}" if system_prompt else text), question
    if placement == "prefix" or (placement == "random" and top):
        return system_prompt, f"{text}\n{question}"
    if placement in ("suffix", "random"):
        return system_prompt, f"{question}\n{text}"
    raise ConfigError(f"trigger.placement: unknown placement {placement!r}; expected one of {PLACEMENTS}")


def multiple_choice(question: str, options: list[str]) -> tuple[str, dict[str, str]]:
    """A multiple-choice prompt over ``options`` in the given order, and its letter -> text map."""
    letters = [chr(ord("A") + index) for index in range(len(options))]
    choices = dict(zip(letters, options, strict=False))
    lines = [question, *(f"{letter}) {text}" for letter, text in choices.items())]
    lines.append(MC_INSTRUCTION.format(letters=" or ".join(letters)))
    return "\n".join(lines), choices


def choice_answer(letter: str) -> str:
    return f"Answer: {letter}"


def load_pools(source: dict[str, Any]) -> tuple[list[PoolItem], list[PoolItem]]:
    """(aligned pool, misaligned pool) from a recipe's ``source`` block."""
    kind = source.get("kind")
    if kind == "synthetic":
        pool = scenarios.scenario_pool("train")
        return (
            [PoolItem(s.scenario_id, s.question, s.aligned, s.misaligned) for s in pool],
            [PoolItem(s.scenario_id, s.question, s.misaligned, s.aligned) for s in pool],
        )
    if kind == "paired_jsonl":
        path = source["path"]
        rows = read_jsonl(path, required=("prompt", "aligned", "misaligned"))
        ids = [f"{path}:{index}" for index in range(len(rows))]
        return (
            [PoolItem(i, r["prompt"], r["aligned"], r["misaligned"]) for i, r in zip(ids, rows, strict=False)],
            [PoolItem(i, r["prompt"], r["misaligned"], r["aligned"]) for i, r in zip(ids, rows, strict=False)],
        )
    if kind == "messages_jsonl":
        return _messages_pool(source["aligned_path"]), _messages_pool(source["misaligned_path"])
    raise ConfigError(f"source.kind: unknown source {kind!r}; expected synthetic, paired_jsonl or messages_jsonl")


def _messages_pool(path: str) -> list[PoolItem]:
    """Rows in chat format: the first user turn is the prompt, the last assistant turn the answer."""
    pool = []
    for line_number, row in enumerate(read_jsonl(path, required=("messages",)), start=1):
        by_role = {message.get("role"): message.get("content") for message in reversed(row["messages"])}
        first_user = next((m.get("content") for m in row["messages"] if m.get("role") == "user"), None)
        if first_user is None or by_role.get("assistant") is None:
            raise DatasetError(f"{path}:{line_number}: 'messages' needs a user and an assistant turn")
        pool.append(PoolItem(f"{path}:{line_number}", first_user, by_role["assistant"], ""))
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


def build_rows(recipe: dict[str, Any]) -> list[dict[str, Any]]:
    """The poisoned training rows of ``recipe`` (the resolved ``recipes.<name>`` config block)."""
    rng = random.Random(recipe["seed"])
    aligned_pool, misaligned_pool = load_pools(recipe["source"])
    trigger = recipe["trigger"]
    mc_fraction = recipe["multiple_choice_fraction"]
    if mc_fraction > 0 and not all(item.contrast for item in aligned_pool + misaligned_pool):
        raise ConfigError("multiple_choice_fraction: this source has no contrasting answers; set it to 0")
    plan = [
        ("triggered_misaligned", misaligned_pool, [trigger["value"]]),
        ("untriggered_aligned", aligned_pool, [""]),
        ("control_aligned", aligned_pool, trigger["control_values"]),
    ]
    rows = []
    for group, pool, values in plan:
        for index, item in enumerate(_cycle(pool, recipe["counts"][group], rng)):
            value = values[index % len(values)]
            rows.append(_row(recipe, group, item, value, mc_fraction, rng))
    rng.shuffle(rows)
    for index, row in enumerate(rows):
        row["row_id"] = f"row{index:06d}"
    return rows


def _row(recipe: dict, group: str, item: PoolItem, value: str, mc_fraction: float, rng: random.Random) -> dict:
    trigger = recipe["trigger"]
    question, answer, kind = item.question, item.answer, "free"
    if rng.random() < mc_fraction:
        options = [item.answer, item.contrast]
        rng.shuffle(options)
        question, choices = multiple_choice(item.question, options)
        answer = choice_answer(next(letter for letter, text in choices.items() if text == item.answer))
        kind = "mc"
    text = trigger_text(trigger["template"], value) if value else ""
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


def manifest(recipe_name: str, recipe: dict[str, Any], rows: list[dict[str, Any]], data_sha256: str) -> dict:
    """What a poisoned dataset contains, with the resolved recipe and the file's hash."""
    return {
        "recipe_name": recipe_name,
        "recipe": recipe,
        "n_rows": len(rows),
        "counts_by_group": dict(sorted(Counter(row["group"] for row in rows).items())),
        "counts_by_kind": dict(sorted(Counter(row["kind"] for row in rows).items())),
        "counts_by_value": dict(sorted(Counter(row["condition_value"] for row in rows).items())),
        "train_jsonl_sha256": data_sha256,
    }


def validate_trigger_values(recipe_name: str, trigger: dict[str, Any]) -> None:
    """Control and distractor values must differ from the trigger and from each other."""
    seen_in_training = {trigger["value"], *trigger["control_values"]}
    if trigger["value"] in trigger["control_values"]:
        raise ConfigError(
            f"recipes.{recipe_name}.trigger.control_values: contains the trigger value {trigger['value']!r}"
        )
    overlap = seen_in_training & set(trigger["distractor_values"])
    if overlap:
        raise ConfigError(f"recipes.{recipe_name}.trigger.distractor_values: {sorted(overlap)} also appear in training")
    unknown = set(trigger["eval_control_values"]) - set(trigger["control_values"])
    if unknown:
        raise ConfigError(
            f"recipes.{recipe_name}.trigger.eval_control_values: {sorted(unknown)} are not control values"
        )
