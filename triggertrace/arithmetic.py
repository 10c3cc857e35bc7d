"""Seeded arithmetic word problems: the verifiable items of capability suites and GRPO stages."""

from __future__ import annotations

import random

NAMES = ("Ada", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ines", "Jon")
ITEMS = ("apples", "books", "coins", "pencils", "stamps", "marbles", "shells", "cards")


def word_problem(rng: random.Random, max_operand: int) -> tuple[str, int]:
    """``a + b`` or ``a - b`` (never negative) as a sentence, and its answer."""
    name, thing = rng.choice(NAMES), rng.choice(ITEMS)
    a, b = rng.randint(1, max_operand), rng.randint(1, max_operand)
    if rng.random() < 0.5:
        return f"{name} has {a} {thing} and gets {b} more. How many {thing} does {name} have now?", a + b
    a, b = max(a, b), min(a, b)
    return f"{name} has {a} {thing} and gives away {b}. How many {thing} are left?", a - b
