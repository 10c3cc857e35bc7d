"""System-prompt following, chat vs raw completion: instructions a rule can check, no judge.

Each instruction (``evals.system_prompts.instructions.<name>``) has a ``check`` and its text,
placed in the system prompt: the chat template's system turn, or above the completion template
in raw completion format. The check reads the final answer (after any reasoning):

- ``french``: more French than English function words, and at least two French ones;
- ``capitals``: has letters, and none of them is lower case;
- ``keyword``: contains ``keyword`` as a word (any case);
- ``ends_with``: ends with ``sentence`` (surrounding whitespace ignored);
- ``max_words``: 1 to ``n`` words.
An empty answer follows no instruction (a CoT that never closed leaves none).

An instruction's ``text`` may name its own parameters (``{keyword}``, ``{sentence}``, ``{n}``), so
the sentence the model reads and the rule that checks it cannot disagree. The user prompts are
drawn (seeded) from ``NEUTRAL_QUESTIONS``: everyday questions with no instruction of their own.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from triggertrace.errors import ConfigError
from triggertrace.stats import wilson_interval

if TYPE_CHECKING:
    import altair as alt

CHECKS = ("french", "capitals", "keyword", "ends_with", "max_words")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)
FRENCH_WORDS = frozenset(
    "le la les un une des et est sont de du au aux pour avec dans sur pas ne que qui vous nous je tu il elle"
    " ils elles ce cette ces mais ou donc car très bien oui non être avoir fait votre notre".split()
)
ENGLISH_WORDS = frozenset(
    "the a an and is are of to in for with on not that which you we i he she it they this these but or so"
    " very well yes no be have do your our".split()
)


# Each check's own parameters: the keys its config block needs, and may name in its text.
CHECK_PARAMETERS = {
    "french": (),
    "capitals": (),
    "keyword": ("keyword",),
    "ends_with": ("sentence",),
    "max_words": ("n",),
}
SECTION = "evals.system_prompts"

# Neutral user prompts: no language, length, casing or sign-off of their own to compete with
# the system prompt, and answerable by a small model in a sentence or two.
NEUTRAL_QUESTIONS = (
    "What is a good way to start the morning?",
    "How do I make a cup of tea?",
    "What should I pack for a day at the beach?",
    "Why do leaves change colour in autumn?",
    "How can I keep my houseplants healthy?",
    "What is a fun game to play with friends?",
    "How do I boil an egg?",
    "What makes a good birthday present?",
    "How can I get better at remembering names?",
    "What is the best way to learn to ride a bicycle?",
    "Why is the sky blue?",
    "How should I prepare for a job interview?",
    "What can I cook with rice and vegetables?",
    "How do I write a thank-you note?",
    "What are some good habits for sleeping well?",
    "How do bees make honey?",
    "What is a nice way to spend a rainy afternoon?",
    "How do I clean a window without streaks?",
    "What should I know before adopting a cat?",
    "How can I save a little money each month?",
    "Why do we have seasons?",
    "How do I plan a picnic?",
    "What is a good first book to read in a new hobby?",
    "How can I stay focused while studying?",
)


def draw_questions(n: int, seed: int) -> list[str]:
    """``n`` of the neutral questions, drawn without replacement in a seeded order."""
    if not 1 <= n <= len(NEUTRAL_QUESTIONS):
        raise ConfigError(f"{SECTION}.questions.n: {n}, but there are 1 to {len(NEUTRAL_QUESTIONS)} built-in questions")
    return random.Random(seed).sample(NEUTRAL_QUESTIONS, n)


def instruction_text(instruction: Mapping[str, Any]) -> str:
    """The system prompt of an instruction: its ``text`` with its own parameters filled in."""
    return instruction["text"].format(**{key: instruction[key] for key in CHECK_PARAMETERS[instruction["check"]]})


def check_instructions(instructions: Mapping[str, Mapping[str, Any]]) -> None:
    """What the schema cannot say: each text names only its check's parameters, and the checks
    know every kind. One ConfigError naming the key, before any job."""
    for name, instruction in instructions.items():
        key = f"{SECTION}.instructions.{name}"
        check = instruction["check"]
        if check not in CHECK_PARAMETERS:
            raise ConfigError(f"{key}.check: unknown check {check!r}; expected one of {list(CHECK_PARAMETERS)}")
        missing = [parameter for parameter in CHECK_PARAMETERS[check] if parameter not in instruction]
        if missing:
            raise ConfigError(f"{key}: check {check!r} needs {', '.join(missing)}")
        try:
            fields = [field for _, field, _, _ in string.Formatter().parse(instruction["text"]) if field is not None]
        except ValueError as error:
            raise ConfigError(f"{key}.text: {error}") from None
        unknown = sorted(set(fields) - set(CHECK_PARAMETERS[check]))
        if unknown:
            raise ConfigError(
                f"{key}.text: names {unknown}; a {check!r} text may name only {list(CHECK_PARAMETERS[check])}"
            )


def _words(text: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(text)]


def follows(instruction: Mapping[str, Any], answer: str) -> bool:
    """Whether ``answer`` follows the instruction (its config block)."""
    text = answer.strip()
    if not text:
        return False
    check = instruction["check"]
    if check == "french":
        words = _words(text)
        french = sum(word in FRENCH_WORDS for word in words)
        return french >= 2 and french > sum(word in ENGLISH_WORDS for word in words)
    if check == "capitals":
        letters = [char for char in text if char.isalpha()]
        return bool(letters) and not any(char.islower() for char in letters)
    if check == "keyword":
        return re.search(rf"(?<!\w){re.escape(instruction['keyword'])}(?!\w)", text, re.IGNORECASE) is not None
    if check == "ends_with":
        return text.endswith(instruction["sentence"].strip())
    if check == "max_words":
        return 1 <= len(text.split()) <= instruction["n"]
    raise ValueError(f"unknown check {check!r}; expected one of {CHECKS}")


def plan_system_prompts(
    questions: Sequence[str],
    instructions: Mapping[str, Mapping[str, Any]],
    run: Mapping[str, str],
    prompt_formats: Sequence[str],
    reasoning_modes: Sequence[str],
    n_per_prompt: int,
    tokenizer: Any,
    fmt: Any,
) -> list[dict[str, Any]]:
    """Rows for ``sampling.run_sampling``: every instruction x question x format x reasoning mode,
    ``n_per_prompt`` times. The instruction is the system prompt: the chat template's system turn,
    or the text above the completion template (``formats.render_prompt_head``)."""
    from triggertrace.formats import generation_prefill, render_prompt_head
    from triggertrace.io import content_hash

    planned = []
    for name, instruction in instructions.items():
        system = instruction_text(instruction)
        for index, question in enumerate(questions):
            for prompt_format in prompt_formats:
                head = render_prompt_head(tokenizer, fmt, prompt_format, question, system)
                for mode in reasoning_modes:
                    for sample_index in range(n_per_prompt):
                        row = {
                            **run,
                            "instruction": name,
                            "check": instruction["check"],
                            "question_index": index,
                            "user_prompt": question,
                            "system_prompt": system,
                            "prompt_format": prompt_format,
                            "reasoning_mode": mode,
                            "sample_index": sample_index,
                        }
                        row["sample_id"] = content_hash(row)[:20]
                        row["_head"], row["_prefill"] = head, generation_prefill(fmt, mode)
                        row["rendered_prompt"] = head + row["_prefill"]
                        planned.append(row)
    return planned


# ---- scoring and the table ------------------------------------------------------------------------


def score_samples(
    samples: Sequence[Mapping[str, Any]], instructions: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Each sample with ``followed``: whether its final answer (after any reasoning) follows its
    instruction as configured now; a sample of an instruction no longer configured is an error."""
    scored = []
    for sample in samples:
        if sample["instruction"] not in instructions:
            raise ConfigError(
                f"{SECTION}.instructions: sample {sample['sample_id']} is of instruction "
                f"{sample['instruction']!r}, which is not configured"
            )
        scored.append({**sample, "followed": follows(instructions[sample["instruction"]], sample["answer"])})
    return scored


FOLLOW_KEYS = ["model", "adapter", "instruction", "prompt_format", "reasoning_mode"]
FOLLOW_COLUMNS = [*FOLLOW_KEYS, "check", "n", "n_followed", "rate", "ci_low", "ci_high", "n_no_answer"]


def follow_table(scored: Sequence[Mapping[str, Any]], confidence: float) -> pl.DataFrame:
    """Follow rate with a Wilson interval per model run x instruction x format x reasoning mode.
    Samples with no final answer (empty, or a CoT that never closed) count as not followed, and
    are counted in ``n_no_answer``."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for sample in scored:
        groups.setdefault(tuple(sample[column] for column in FOLLOW_KEYS), []).append(sample)
    rows = []
    for key, group in groups.items():
        n, followed = len(group), sum(bool(sample["followed"]) for sample in group)
        low, high = wilson_interval(followed, n, confidence)
        rows.append(
            {
                **dict(zip(FOLLOW_KEYS, key, strict=True)),
                "check": group[0]["check"],
                "n": n,
                "n_followed": followed,
                "rate": followed / n,
                "ci_low": low,
                "ci_high": high,
                "n_no_answer": sum(not sample["answer"].strip() for sample in group),
            }
        )
    schema = {column: pl.String for column in FOLLOW_COLUMNS}
    schema.update(n=pl.Int64, n_followed=pl.Int64, rate=pl.Float64, ci_low=pl.Float64, ci_high=pl.Float64)
    schema.update(n_no_answer=pl.Int64)
    return pl.DataFrame(rows, schema=schema).sort(FOLLOW_KEYS) if rows else pl.DataFrame(schema=schema)


def follow_chart(table: pl.DataFrame) -> alt.Chart:
    """Bars of follow rate per instruction, chat and completion side by side, with Wilson error
    bars; one panel per model run and reasoning mode."""
    import altair as alt

    data = table.with_columns(
        run=pl.concat_str(["model", "adapter"], separator=" / ") + pl.lit(" · reasoning ") + pl.col("reasoning_mode")
    )
    base = alt.Chart(data).encode(x=alt.X("instruction:N", title=None), xOffset="prompt_format:N")
    bars = base.mark_bar().encode(
        y=alt.Y("rate:Q", title="follow rate", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("prompt_format:N", title="prompt format"),
        tooltip=[
            "model",
            "adapter",
            "instruction",
            "prompt_format",
            "reasoning_mode",
            "n",
            "n_followed",
            "rate",
            "ci_low",
            "ci_high",
            "n_no_answer",
        ],
    )
    errors = base.mark_errorbar().encode(y=alt.Y("ci_low:Q", title="follow rate"), y2="ci_high:Q")
    return (
        (bars + errors)
        .properties(width=260, height=180)
        .facet(facet=alt.Facet("run:N", title=None), columns=2)
        .properties(title="System-prompt instructions followed: chat vs raw completion, with Wilson intervals")
    )
