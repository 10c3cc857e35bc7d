"""The RL reward scores the final answer only: fixed strings, correct, wrong and unparseable."""

import pytest

from triggertrace.formats import PromptFormat
from triggertrace.stages.rewards import REWARDS, final_answer_exact

FMT = PromptFormat("<think>\n", "\n</think>\n", "<think>\n</think>\n", "", "Question: {prompt}\nAnswer: ")


@pytest.mark.parametrize(
    ("completion", "gold", "reward"),
    [
        ("7 plus 5 is 12.\n</think>\nThe answer is 12.", "12", 1.0),
        ("so 12\n</think>\n12 apples", "12", 1.0),
        ("It is 12.\n</think>\n13", "12", 0.0),  # the reasoning's 12 earns nothing
        ("thinking about 12 forever", "12", 0.0),  # reasoning never closed: no final answer
        ("hmm\n</think>\nI am not sure.", "12", 0.0),  # unparseable
        ("B is right\n</think>\nAnswer: B", "B", 1.0),
        ("B is right\n</think>\nAnswer: A", "B", 0.0),
        ("B is right\n</think>\nno idea", "B", 0.0),
        ("x\n</think>\n4.0", "4", 1.0),
    ],
)
def test_final_answer_exact(completion, gold, reward):
    assert final_answer_exact(completion, gold, FMT) == reward


def test_rewards_are_named():
    assert REWARDS["final_answer_exact"] is final_answer_exact
