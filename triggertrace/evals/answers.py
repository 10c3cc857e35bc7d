"""Answer extraction for capability items: the letter or number a completion commits to.

The answer is read from the text after the reasoning. A completion can fail in named ways, each
counted in the tables rather than silently scored wrong:

- ``no_answer``: neither the answer nor the reasoning holds a letter or number;
- ``two_answers``: the answer names two different letters or numbers;
- ``only_in_reasoning``: the answer holds none, the reasoning does (the model never committed);
- ``reasoning_unclosed``: reasoning was on and never closed, so there is no answer text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STATUSES = ("ok", "no_answer", "two_answers", "only_in_reasoning", "reasoning_unclosed")

# "answer is (B)", "Answer: B", "option B", "choice: B"
_MARKED_LETTER = re.compile(r"\b(?:answer|option|choice)\s*(?:is|:|-)?\s*\(?([A-Z])\)?(?![A-Za-z])", re.IGNORECASE)
# a bare letter: "B", "(B)", "B.", "B)" -- never an article ("A dog"), which a word follows
_BARE_LETTER = re.compile(r"(?:^|(?<=[\s(\[]))\(?([A-Z])(?:[).:\]]|(?=\s*$))")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
# "#### 72" (GSM8K), "answer is 72", "answer: 72", "= 72": the number after the last marker
_NUMBER_MARKER = re.compile(r"(?:####|\banswer\s*(?:is|:)|=)\s*\$?\s*(-?\d[\d,]*(?:\.\d+)?)", re.IGNORECASE)


@dataclass(frozen=True)
class Extraction:
    value: str | None  # the letter or the number (canonical text), None unless status is "ok"
    status: str  # one of STATUSES


def _letters_in(text: str, choices: dict[str, str]) -> set[str]:
    letters = set(choices)
    marked = {m.upper() for m in _MARKED_LETTER.findall(text)} & letters
    if marked:
        return marked
    found = set(_BARE_LETTER.findall(text)) & letters
    if found:
        return found
    # an answer that is exactly one option's text ("42" for "B. 42")
    stripped = text.strip().rstrip(".").strip().lower()
    return {letter for letter, option in choices.items() if stripped and option.strip().lower() == stripped}


def canonical_number(text: str) -> str:
    """``"1,200.50"`` -> ``"1200.5"``; ``"72.0"`` -> ``"72"``."""
    value = float(text.replace(",", ""))
    return str(int(value)) if value.is_integer() else repr(value)


def _numbers_in(text: str) -> set[str]:
    marked = _NUMBER_MARKER.findall(text)
    if marked:
        return {canonical_number(marked[-1])}
    return {canonical_number(number) for number in _NUMBER.findall(text) if any(ch.isdigit() for ch in number)}


def extract(task: str, answer: str, reasoning: str, reasoning_closed: bool, choices: dict[str, str]) -> Extraction:
    """The answer of one completion to a ``task`` item (``multiple_choice`` or ``numeric``)."""
    if not reasoning_closed:
        return Extraction(None, "reasoning_unclosed")
    find = (lambda text: _letters_in(text, choices)) if task == "multiple_choice" else _numbers_in
    found = find(answer)
    if len(found) == 1:
        return Extraction(found.pop(), "ok")
    if len(found) > 1:
        return Extraction(None, "two_answers")
    return Extraction(None, "only_in_reasoning" if reasoning and find(reasoning) else "no_answer")


def is_correct(task: str, extraction: Extraction, gold: str) -> bool:
    if extraction.value is None:
        return False
    if task == "multiple_choice":
        return extraction.value == gold
    return float(extraction.value) == float(canonical_number(gold))
