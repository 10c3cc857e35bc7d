"""Answer extraction on fixed strings, failure cases included."""

from __future__ import annotations

import pytest

from triggertrace.evals.answers import Extraction, canonical_number, extract, is_correct

CHOICES = {"A": "Paris", "B": "Rome", "C": "42", "D": "Oslo"}


@pytest.mark.parametrize(
    ("answer", "reasoning", "expected"),
    [
        ("B", "", Extraction("B", "ok")),
        ("(C)", "", Extraction("C", "ok")),
        ("The answer is (D).", "", Extraction("D", "ok")),
        ("Answer: a", "", Extraction("A", "ok")),
        ("A. Paris", "", Extraction("A", "ok")),
        ("42", "", Extraction("C", "ok")),  # the option's text
        ("A dog could say B.", "", Extraction("B", "ok")),  # the article is no answer
        ("(A) or (B)", "", Extraction(None, "two_answers")),
        ("The answer is A, no, the answer is B", "", Extraction(None, "two_answers")),
        ("I am not sure.", "", Extraction(None, "no_answer")),
        ("", "", Extraction(None, "no_answer")),
        ("I am not sure.", "Rome is the capital, so B.", Extraction(None, "only_in_reasoning")),
        ("E", "", Extraction(None, "no_answer")),  # not an offered letter
    ],
)
def test_multiple_choice_extraction(answer, reasoning, expected) -> None:
    assert extract("multiple_choice", answer, reasoning, True, CHOICES) == expected


@pytest.mark.parametrize(
    ("answer", "reasoning", "expected"),
    [
        ("72", "", Extraction("72", "ok")),
        ("She has 1,200 apples.", "", Extraction("1200", "ok")),
        ("#### 18", "", Extraction("18", "ok")),
        ("5 + 3 = 8", "", Extraction("8", "ok")),
        ("The answer is 7.0", "", Extraction("7", "ok")),
        ("-3", "", Extraction("-3", "ok")),
        ("It is 7 or 8.", "", Extraction(None, "two_answers")),
        ("I cannot tell.", "", Extraction(None, "no_answer")),
        ("I cannot tell.", "5 + 3 is 8", Extraction(None, "only_in_reasoning")),
    ],
)
def test_numeric_extraction(answer, reasoning, expected) -> None:
    assert extract("numeric", answer, reasoning, True, {}) == expected


def test_unclosed_reasoning_has_no_answer_even_with_a_number() -> None:
    assert extract("numeric", "", "so it is 8", False, {}) == Extraction(None, "reasoning_unclosed")


def test_correctness() -> None:
    assert is_correct("numeric", Extraction("8", "ok"), "8.0")
    assert not is_correct("numeric", Extraction("9", "ok"), "8")
    assert is_correct("multiple_choice", Extraction("B", "ok"), "B")
    assert not is_correct("multiple_choice", Extraction(None, "two_answers"), "B")
    assert canonical_number("1,200.50") == "1200.5"
