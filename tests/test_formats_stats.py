import math

import pytest

from triggertrace.formats import PromptFormat, generation_prefill, parse_choice, split_completion, training_target
from triggertrace.stats import wilson_interval

FMT = PromptFormat(
    reasoning_open="<think>\n",
    reasoning_close="\n</think>\n",
    reasoning_off="<think>\n</think>\n",
    reasoning_prefill="",
    completion_template="Question: {prompt}\nAnswer: ",
)
QWEN = PromptFormat(
    reasoning_open="<think>\n",
    reasoning_close="\n</think>\n\n",
    reasoning_off="<think>\n\n</think>\n\n",
    reasoning_prefill="Okay.",
    completion_template="{prompt}\n",
)


@pytest.mark.parametrize("fmt", [FMT, QWEN])
def test_training_target_round_trips_through_the_parser(fmt):
    target = training_target(fmt, "scratchpad", "I think.", "Do this.")
    completion = target[len(generation_prefill(fmt, "on")) - len(fmt.reasoning_prefill) :]
    if fmt.reasoning_prefill:  # generation starts after the prefill
        completion = completion.replace(fmt.reasoning_prefill, "", 1)
    parsed = split_completion(fmt, "on", completion)
    assert parsed.answer == "Do this."
    assert parsed.reasoning_closed
    assert parsed.reasoning.endswith("I think.")


def test_reasoning_styles_and_modes():
    assert training_target(FMT, "none", "r", "a") == "a"
    assert training_target(FMT, "disabled", "r", "a") == "<think>\n</think>\na"
    assert generation_prefill(QWEN, "on") == "<think>\nOkay."
    assert generation_prefill(QWEN, "off") == "<think>\n\n</think>\n\n"
    off = split_completion(FMT, "off", " Just answer. ")
    assert (off.reasoning, off.answer, off.reasoning_closed) == ("", "Just answer.", True)
    unclosed = split_completion(QWEN, "on", " the user wants")
    assert (unclosed.reasoning, unclosed.answer, unclosed.reasoning_closed) == ("Okay. the user wants", "", False)


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("Answer: B", "B"),
        ("answer is (A).", "A"),
        ("B) Keep the money", "B"),
        ("A", "A"),
        ("I would pick neither", None),
        ("Answer: C", None),
    ],
)
def test_parse_choice(answer, expected):
    assert parse_choice(answer, ["A", "B"]) == expected


@pytest.mark.parametrize(
    "successes, n, low, high",
    # Reference values: Wilson score interval, z = 1.959964 (e.g. statsmodels proportion_confint method="wilson").
    [(0, 10, 0.0, 0.277533), (5, 10, 0.236593, 0.763407), (10, 10, 0.722467, 1.0)],
)
def test_wilson_interval_known_values(successes, n, low, high):
    got_low, got_high = wilson_interval(successes, n)
    assert got_low == pytest.approx(low, abs=1e-5)
    assert got_high == pytest.approx(high, abs=1e-5)


def test_wilson_interval_edge_cases():
    assert all(math.isnan(bound) for bound in wilson_interval(0, 0))
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
