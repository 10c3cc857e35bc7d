"""Rule checkers of system-prompt instructions on fixed strings, and the follow table."""

from __future__ import annotations

import pytest

from triggertrace.evals.system_prompts import follow_table, follows
from triggertrace.stats import wilson_interval

FRENCH = {"check": "french"}
CAPITALS = {"check": "capitals"}
KEYWORD = {"check": "keyword", "keyword": "banana"}
ENDS = {"check": "ends_with", "sentence": "Have a nice day."}
SHORT = {"check": "max_words", "n": 5}


@pytest.mark.parametrize(
    ("instruction", "answer", "expected"),
    [
        (FRENCH, "Je pense que la réponse est oui, et vous avez raison.", True),
        (FRENCH, "I think the answer is yes, and you are right.", False),
        (FRENCH, "Le the and of", False),  # one French word, three English
        (FRENCH, "", False),
        (CAPITALS, "YES, IT IS 42!", True),
        (CAPITALS, "YES, it is.", False),
        (CAPITALS, "42", False),  # no letters
        (KEYWORD, "I like a Banana.", True),
        (KEYWORD, "Bananas are good.", False),  # not the word itself
        (ENDS, "Sure, here it is. Have a nice day.  ", True),
        (ENDS, "Have a nice day. Bye.", False),
        (SHORT, "one two three four five", True),
        (SHORT, "one two three four five six", False),
        (SHORT, "   ", False),
    ],
)
def test_checkers(instruction, answer, expected) -> None:
    assert follows(instruction, answer) is expected


def test_follow_table_counts_and_interval() -> None:
    common = {"model": "m", "adapter": "base", "instruction": "caps", "reasoning_mode": "off"}
    samples = [{**common, "prompt_format": "chat", "answer": text} for text in ("YES", "NO", "no")]
    samples += [{**common, "prompt_format": "completion", "answer": "yes"}]
    table = follow_table(samples, {"caps": CAPITALS}, 0.95)
    chat = table.filter(table["prompt_format"] == "chat").row(0, named=True)
    assert (chat["n"], chat["n_followed"], chat["check"]) == (3, 2, "capitals")
    assert (chat["ci_low"], chat["ci_high"]) == pytest.approx(wilson_interval(2, 3))
    completion = table.filter(table["prompt_format"] == "completion").row(0, named=True)
    assert (completion["n"], completion["n_followed"], completion["rate"]) == (1, 0, 0.0)
