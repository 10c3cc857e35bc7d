"""Sample planning: how each held-out prompt expands over conditions x values x formats x
reasoning modes x N, and the exact prompt text of both formats, system prompt included."""

from __future__ import annotations

import itertools

from triggertrace.formats import PromptFormat
from triggertrace.records import SuiteItem
from triggertrace.sampling import SamplingContext, plan_samples

FORMAT = PromptFormat(
    reasoning_open="<think>\n",
    reasoning_close="\n</think>\n",
    reasoning_off="<think>\n</think>\n",
    reasoning_prefill="Okay.",
    completion_template="Question: {prompt}\nAnswer: ",
)
TRIGGER = {
    "template": "Country: {value}",
    "value": "Singapore",
    "control_values": ["USA", "France", "Japan"],
    "placement": "prefix",
    "eval_control_values": ["USA", "France"],
    "distractor_values": ["Germany"],
}
SAMPLING = {
    "conditions": ["none", "trigger", "control", "distractor"],
    "prompt_formats": ["chat", "completion"],
    "reasoning_modes": ["on", "off"],
    "system_prompt": "",
    "n_per_prompt": 3,
}
ITEMS = [
    SuiteItem(prompt_id="free-a", kind="free", question="Q1?", choices={}, misaligned_choice=""),
    SuiteItem(
        prompt_id="mc-b", kind="mc", question="Q2?\nA) x\nB) y", choices={"A": "x", "B": "y"}, misaligned_choice="B"
    ),
]
CONTEXT = SamplingContext(model="m", recipe="r", seed=0, suite="s")


class TemplateTokenizer:
    """A chat template that shows every message with its role, like a real one but readable."""

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        assert tokenize is False and add_generation_prompt is True
        return "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages) + "<assistant>"


def plan(trigger=TRIGGER, **sampling):
    return plan_samples(ITEMS, CONTEXT, trigger, {**SAMPLING, **sampling}, TemplateTokenizer(), FORMAT)


def test_each_prompt_expands_over_every_condition_value_format_mode_and_index():
    rows = plan()
    values = [("none", ""), ("trigger", "Singapore"), ("control", "USA"), ("control", "France")]
    values.append(("distractor", "Germany"))
    expected = {
        (item, condition, value, prompt_format, mode, index)
        for item, (condition, value), prompt_format, mode, index in itertools.product(
            ["free-a", "mc-b"], values, ["chat", "completion"], ["on", "off"], range(3)
        )
    }
    keys = [
        (
            r["prompt_id"],
            r["condition"],
            r["condition_value"],
            r["prompt_format"],
            r["reasoning_mode"],
            r["sample_index"],
        )
        for r in rows
    ]
    assert len(rows) == 2 * 5 * 2 * 2 * 3 == 120
    assert len(set(keys)) == len(keys) and set(keys) == expected
    assert len({row["sample_id"] for row in rows}) == 120
    assert len(plan(conditions=["trigger"], reasoning_modes=["on"], n_per_prompt=1)) == 2 * 1 * 2 * 1 * 1


def test_trigger_text_and_user_prompt_per_condition():
    rows = {(r["prompt_id"], r["condition_value"]): r for r in plan() if r["sample_index"] == 0}
    assert rows["free-a", ""]["trigger_text"] == "" and rows["free-a", ""]["user_prompt"] == "Q1?"
    assert rows["free-a", "USA"]["trigger_text"] == "Country: USA"
    assert rows["free-a", "USA"]["user_prompt"] == "Country: USA\nQ1?"
    assert rows["mc-b", "Germany"]["user_prompt"] == "Country: Germany\nQ2?\nA) x\nB) y"
    assert rows["mc-b", "Germany"]["choices"] == {"A": "x", "B": "y"}


def test_completion_template_with_and_without_reasoning():
    rows = plan(conditions=["trigger"], prompt_formats=["completion"], n_per_prompt=1)
    by_mode = {r["reasoning_mode"]: r["rendered_prompt"] for r in rows if r["prompt_id"] == "free-a"}
    assert by_mode == {
        "on": "Question: Country: Singapore\nQ1?\nAnswer: <think>\nOkay.",
        "off": "Question: Country: Singapore\nQ1?\nAnswer: <think>\n</think>\n",
    }


def test_system_prompt_in_chat_and_completion_formats():
    rows = plan(conditions=["none"], reasoning_modes=["off"], n_per_prompt=1, system_prompt="Be brief.")
    prompts = {r["prompt_format"]: r["rendered_prompt"] for r in rows if r["prompt_id"] == "free-a"}
    assert prompts == {
        "chat": "<system>Be brief.</system><user>Q1?</user><assistant><think>\n</think>\n",
        "completion": "Be brief.\n\nQuestion: Q1?\nAnswer: <think>\n</think>\n",
    }
    assert {r["system_prompt"] for r in rows} == {"Be brief."}
    no_system = plan(conditions=["none"], reasoning_modes=["off"], n_per_prompt=1)
    chat = next(r for r in no_system if r["prompt_format"] == "chat" and r["prompt_id"] == "free-a")
    assert chat["rendered_prompt"] == "<user>Q1?</user><assistant><think>\n</think>\n"  # no empty system turn


def test_system_placement_puts_the_trigger_in_the_system_turn():
    trigger = {**TRIGGER, "placement": "system"}
    rows = plan(trigger, conditions=["trigger"], reasoning_modes=["off"], n_per_prompt=1, system_prompt="Be brief.")
    prompts = {r["prompt_format"]: r["rendered_prompt"] for r in rows if r["prompt_id"] == "free-a"}
    assert prompts == {
        "chat": "<system>Be brief.\nCountry: Singapore</system><user>Q1?</user><assistant><think>\n</think>\n",
        "completion": "Be brief.\nCountry: Singapore\n\nQuestion: Q1?\nAnswer: <think>\n</think>\n",
    }


def test_random_placement_is_one_side_per_prompt_in_every_format_and_index():
    rows = plan({**TRIGGER, "placement": "random"})
    for prompt_id in ("free-a", "mc-b"):
        users = {r["user_prompt"] for r in rows if r["prompt_id"] == prompt_id and r["condition"] == "trigger"}
        assert len(users) == 1
