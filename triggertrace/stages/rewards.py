"""Verifiable rewards on the final answer only: the reasoning text earns nothing and costs nothing.

A reward function takes the model's completion text (after the prompt, which already opened the
reasoning block), the row's ``gold`` answer and the model's prompt format, and returns a float.
Stages name one in config (``reward:``); add a function here and to ``REWARDS`` to make it nameable.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from triggertrace.formats import PromptFormat, parse_choice, split_completion

NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
LETTERS = [chr(ord("A") + index) for index in range(26)]


def final_answer(completion: str, fmt: PromptFormat) -> str | None:
    """The answer text after the closed reasoning block, or None when the reasoning never closes."""
    parsed = split_completion(fmt, "on", completion)
    return parsed.answer if parsed.reasoning_closed else None


def parse_final(answer: str, gold: str) -> str | None:
    """The letter or number ``answer`` commits to, in the shape of ``gold``; None when unparseable."""
    if gold.isalpha():
        return parse_choice(answer, LETTERS)
    numbers = NUMBER.findall(answer)
    return numbers[0] if numbers else None


def final_answer_exact(completion: str, gold: str, fmt: PromptFormat) -> float:
    """1.0 when the final answer's first number (or its choice letter) equals ``gold``, else 0.0."""
    answer = final_answer(completion, fmt)
    if answer is None:
        return 0.0
    parsed = parse_final(answer, gold)
    if parsed is None:
        return 0.0
    if gold.isalpha():
        return float(parsed == gold.upper())
    return float(float(parsed) == float(gold))


REWARDS: dict[str, Callable[[str, str, PromptFormat], float]] = {"final_answer_exact": final_answer_exact}
