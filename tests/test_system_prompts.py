"""System-prompt following: rule checkers on fixed strings, prompts in both formats, the
follow table on fixed samples (Wilson intervals computed by hand), and config errors."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from configs import resolved_config

from triggertrace.errors import ConfigError
from triggertrace.evals.system_prompts import (
    NEUTRAL_QUESTIONS,
    check_instructions,
    draw_questions,
    follow_table,
    follows,
    instruction_text,
    plan_system_prompts,
    score_samples,
)
from triggertrace.formats import PromptFormat
from triggertrace.schema import fill_defaults
from triggertrace.stages.lineage import validate_lineage

REPO = Path(__file__).resolve().parents[1]
EVALS_SCHEMA = REPO / "config" / "schemas" / "evals.yaml"
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


# ---- prompts ------------------------------------------------------------------------------------

FORMAT = PromptFormat(
    reasoning_open="<think>\n",
    reasoning_close="\n</think>\n",
    reasoning_off="<think>\n</think>\n",
    reasoning_prefill="Okay.",
    completion_template="Question: {prompt}\nAnswer: ",
)
INSTRUCTIONS = {
    "brief": {"check": "max_words", "n": 10, "text": "Answer in at most {n} words."},
    "caps": {"check": "capitals", "text": "Write in capitals."},
}


class TemplateTokenizer:
    """A chat template that shows every message with its role, like a real one but readable."""

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        assert tokenize is False and add_generation_prompt is True
        return "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages) + "<assistant>"


def plan(**overrides):
    arguments = {
        "questions": ["How do I boil an egg?", "Why is the sky blue?"],
        "instructions": INSTRUCTIONS,
        "run": {"model": "m", "adapter": "base"},
        "prompt_formats": ["chat", "completion"],
        "reasoning_modes": ["on", "off"],
        "n_per_prompt": 2,
        "tokenizer": TemplateTokenizer(),
        "fmt": FORMAT,
    }
    return plan_system_prompts(**{**arguments, **overrides})


def _row(rows, instruction, question_index, prompt_format, mode, sample_index=0):
    (row,) = [
        r
        for r in rows
        if (r["instruction"], r["question_index"], r["prompt_format"], r["reasoning_mode"], r["sample_index"])
        == (instruction, question_index, prompt_format, mode, sample_index)
    ]
    return row


def test_chat_puts_the_instruction_in_the_system_turn() -> None:
    row = _row(plan(), "brief", 0, "chat", "off")
    assert row["rendered_prompt"] == (
        "<system>Answer in at most 10 words.</system><user>How do I boil an egg?</user><assistant><think>\n</think>\n"
    )
    assert (row["system_prompt"], row["user_prompt"], row["check"]) == (
        "Answer in at most 10 words.",
        "How do I boil an egg?",
        "max_words",
    )


def test_completion_renders_the_instruction_above_the_completion_template() -> None:
    row = _row(plan(), "caps", 1, "completion", "on", sample_index=1)
    assert row["rendered_prompt"] == "Write in capitals.\n\nQuestion: Why is the sky blue?\nAnswer: <think>\nOkay."
    assert "<system>" not in row["rendered_prompt"]


def test_every_instruction_question_format_mode_and_draw_once() -> None:
    rows = plan()
    assert len(rows) == 2 * 2 * 2 * 2 * 2 == 32
    assert len({row["sample_id"] for row in rows}) == 32
    assert len(plan(reasoning_modes=["off"], n_per_prompt=1, prompt_formats=["chat"])) == 2 * 2
    # the sample id depends on the run, so the base model and an adapter never share one
    other = plan(run={"model": "m", "adapter": "r/seed0"})
    assert not {row["sample_id"] for row in rows} & {row["sample_id"] for row in other}


def test_questions_are_drawn_seeded_from_the_neutral_set() -> None:
    first = draw_questions(5, seed=0)
    assert first == draw_questions(5, seed=0)
    assert len(set(first)) == 5 and set(first) <= set(NEUTRAL_QUESTIONS)
    assert first != draw_questions(5, seed=1)
    assert sorted(draw_questions(len(NEUTRAL_QUESTIONS), seed=3)) == sorted(NEUTRAL_QUESTIONS)
    with pytest.raises(ConfigError, match=r"^evals\.system_prompts\.questions\.n: 25, but there are 1 to 24"):
        draw_questions(25, seed=0)


def test_instruction_text_names_its_own_parameters() -> None:
    assert instruction_text({"check": "keyword", "keyword": "banana", "text": "Say '{keyword}'."}) == "Say 'banana'."
    assert (
        instruction_text({"check": "ends_with", "sentence": "Bye.", "text": "End with {sentence}"}) == "End with Bye."
    )
    assert instruction_text({"check": "french", "text": "In French."}) == "In French."


@pytest.mark.parametrize(
    ("instruction", "message"),
    [
        ({"check": "nope", "text": "x"}, r"instructions\.i\.check: unknown check 'nope'"),
        ({"check": "keyword", "text": "x"}, r"instructions\.i: check 'keyword' needs keyword"),
        ({"check": "max_words", "n": 3, "text": "at most {k}"}, r"instructions\.i\.text: names \['k'\]"),
        ({"check": "french", "text": "in {n} words"}, r"instructions\.i\.text: names \['n'\]"),
        ({"check": "capitals", "text": "brace {"}, r"instructions\.i\.text: Single '\{'"),
    ],
)
def test_bad_instruction_names_the_key(instruction, message) -> None:
    with pytest.raises(ConfigError, match=r"^evals\.system_prompts\." + message):
        check_instructions({"i": instruction})


# ---- the config section --------------------------------------------------------------------------

SHIPPED = resolved_config("config/system-prompts.yaml")


def test_schema_defaults_are_the_shipped_overlay() -> None:
    schema = yaml.safe_load(EVALS_SCHEMA.read_text())["properties"]["evals"]["properties"]["system_prompts"]
    section: dict = {}
    fill_defaults(section, schema)
    overlay = yaml.safe_load((REPO / "config" / "system-prompts.yaml").read_text())["evals"]["system_prompts"]
    assert section == overlay
    validate_lineage(SHIPPED, str(EVALS_SCHEMA))
    check_instructions(overlay["instructions"])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda s: s["instructions"]["brief"].update(check="shout"),
            "evals.system_prompts.instructions.brief.check: 'shout' is not one of",
        ),
        (lambda s: s["instructions"]["brief"].update(n=0), "evals.system_prompts.instructions.brief.n: 0 is less than"),
        (lambda s: s["instructions"]["keyword"].pop("keyword"), "evals.system_prompts.instructions.keyword: 'keyword'"),
        (lambda s: s.update(n_per_prompt=0), "evals.system_prompts.n_per_prompt: 0 is less than"),
        (lambda s: s.update(runs=["stage"]), "evals.system_prompts.runs[0]: 'stage' is not one of"),
        (lambda s: s.update(prompt_formats=["plain"]), "evals.system_prompts.prompt_formats[0]: 'plain' is not"),
    ],
)
def test_bad_section_names_the_key(edit, message) -> None:
    config = copy.deepcopy(SHIPPED)
    edit(config["evals"]["system_prompts"])
    with pytest.raises(ConfigError) as error:
        validate_lineage(config, str(EVALS_SCHEMA))
    assert str(error.value).startswith(message)


# ---- scoring and the table -----------------------------------------------------------------------


def _samples(instruction, prompt_format, mode, answers):
    common = {"model": "m", "adapter": "base", "instruction": instruction, "reasoning_mode": mode}
    check = {"caps": "capitals", "fruit": "keyword"}[instruction]
    return [
        {**common, "check": check, "prompt_format": prompt_format, "sample_id": f"{instruction}{i}", "answer": text}
        for i, text in enumerate(answers)
    ]


def test_follow_table_counts_and_hand_computed_wilson_intervals() -> None:
    samples = _samples("caps", "chat", "off", ["YES", "NO", "no"])
    samples += _samples("caps", "completion", "off", ["yes"])
    # two samples whose CoT never closed: no answer, so not followed
    samples += _samples("fruit", "chat", "on", ["banana bread", "", "  ", "apple"])
    scored = score_samples(samples, {"caps": CAPITALS, "fruit": KEYWORD})
    assert [row["followed"] for row in scored] == [True, True, False, False, True, False, False, False]
    table = follow_table(scored, 0.95)
    rows = {(row["instruction"], row["prompt_format"]): row for row in table.iter_rows(named=True)}
    assert list(table.columns) == [
        "model",
        "adapter",
        "instruction",
        "prompt_format",
        "reasoning_mode",
        "check",
        "n",
        "n_followed",
        "rate",
        "ci_low",
        "ci_high",
        "n_no_answer",
    ]
    chat = rows["caps", "chat"]
    assert (chat["check"], chat["n"], chat["n_followed"], chat["n_no_answer"]) == ("capitals", 3, 2, 0)
    # Wilson, z = 1.95996: 2/3 -> (0.2077, 0.9385); 0/1 -> (0, z^2/(1+z^2)) = (0, 0.7935); 1/4 -> (0.0456, 0.6994)
    assert (chat["rate"], chat["ci_low"], chat["ci_high"]) == pytest.approx((2 / 3, 0.2077, 0.9385), abs=1e-4)
    completion = rows["caps", "completion"]
    assert (completion["n"], completion["n_followed"], completion["rate"]) == (1, 0, 0.0)
    assert (completion["ci_low"], completion["ci_high"]) == pytest.approx((0.0, 0.7935), abs=1e-4)
    fruit = rows["fruit", "chat"]
    assert (fruit["reasoning_mode"], fruit["n"], fruit["n_followed"], fruit["n_no_answer"]) == ("on", 4, 1, 2)
    assert (fruit["ci_low"], fruit["ci_high"]) == pytest.approx((0.0456, 0.6994), abs=1e-4)


def test_a_sample_of_an_unconfigured_instruction_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"sample caps0 is of instruction 'caps', which is not configured"):
        score_samples(_samples("caps", "chat", "off", ["YES"]), {"fruit": KEYWORD})
