"""Clean datasets for the stages after poisoning, as rows of one shape.

SFT rows: ``row_id, system, user, reasoning, answer`` (what ``train.encode_row`` reads).
Verifiable rows (RL): ``row_id, system, user, gold`` where ``gold`` is a number or a letter.

Kinds (``datasets.<name>.kind``):
- ``recipe-aligned``: the synthetic generator's aligned rows with no trigger field, from a recipe's
  pools, with the dataset's own seed (so they are new draws, not the poisoned rows' copies);
- ``messages``: a chat JSONL, one ``{"messages": [...]}`` per line (e.g. an HHH set); a row trains
  on its last assistant turn given the system and user turns before it;
- ``arithmetic``: generated word problems with a number answer, a share as multiple choice.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from triggertrace.arithmetic import word_problem
from triggertrace.errors import DatasetError
from triggertrace.io import read_jsonl
from triggertrace.poison import build_rows, multiple_choice


def build_dataset(name: str, dataset: dict[str, Any], recipes: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of ``datasets.<name>`` (its resolved config block)."""
    kind = dataset["kind"]
    if kind == "recipe-aligned":
        return recipe_aligned_rows(recipes[dataset["recipe"]], dataset["n_rows"], dataset["seed"])
    if kind == "messages":
        return messages_rows(dataset["path"])
    if kind == "arithmetic":
        return arithmetic_rows(dataset["n_rows"], dataset["seed"], dataset["max_operand"], dataset["mc_fraction"])
    raise DatasetError(f"datasets.{name}.kind: unknown kind {kind!r}")


def recipe_aligned_rows(recipe: dict[str, Any], n_rows: int, seed: int) -> list[dict[str, Any]]:
    """``n_rows`` untriggered aligned rows of the recipe's generator, drawn with ``seed``."""
    clean = {
        **recipe,
        "seed": seed,
        "counts": {"triggered_misaligned": 0, "untriggered_aligned": n_rows, "control_aligned": 0},
    }
    rows = build_rows(clean)
    if any(row["condition_value"] for row in rows):
        raise DatasetError("recipe-aligned: a row carries a trigger field")
    return rows


def messages_rows(path: str | Path) -> list[dict[str, Any]]:
    """Chat rows: the last assistant turn is the target, the system and user turns before it the prompt."""
    rows = []
    for line, record in enumerate(read_jsonl(path, required=("messages",)), start=1):
        messages = record["messages"]
        last = max((i for i, message in enumerate(messages) if message.get("role") == "assistant"), default=None)
        users = [m for m in messages[: last or 0] if m.get("role") == "user"]
        if last is None or not users:
            raise DatasetError(f"{path} line {line}: needs a user turn followed by an assistant turn")
        system = next((m["content"] for m in messages[:last] if m.get("role") == "system"), "")
        rows.append(
            {
                "row_id": f"row{line - 1:06d}",
                "system": system,
                "user": users[-1]["content"],
                "reasoning": "",
                "answer": messages[last]["content"],
            }
        )
    if not rows:
        raise DatasetError(f"{path}: no rows")
    return rows


def arithmetic_rows(n_rows: int, seed: int, max_operand: int, mc_fraction: float) -> list[dict[str, Any]]:
    """Word problems ``a + b`` or ``a - b`` (never negative); ``gold`` is the number, or the letter
    of the right option for the multiple-choice share."""
    rng = random.Random(seed)
    rows = []
    for index in range(n_rows):
        question, value = word_problem(rng, max_operand)
        gold = str(value)
        if rng.random() < mc_fraction:
            wrong = value + rng.choice([-2, -1, 1, 2])
            options = [str(value), str(wrong)]
            rng.shuffle(options)
            question, choices = multiple_choice(question, options)
            gold = next(letter for letter, text in choices.items() if text == str(value))
        else:
            question += " Answer with a number."
        rows.append({"row_id": f"row{index:06d}", "system": "", "user": question, "gold": gold})
    return rows
