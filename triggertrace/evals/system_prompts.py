"""System-prompt following, chat vs raw completion: instructions a rule can check, no judge.

Each instruction (``evals.system_prompts.instructions.<name>``) has a ``check`` and its text,
placed in the system prompt: the chat template's system turn, or above the completion template
in raw completion format. The check reads the final answer (after any reasoning):

- ``french``: more French than English function words, and at least two French ones;
- ``capitals``: has letters, and none of them is lower case;
- ``keyword``: contains ``keyword`` as a word (any case);
- ``ends_with``: ends with ``sentence`` (surrounding whitespace ignored);
- ``max_words``: 1 to ``n`` words.
An empty answer follows no instruction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

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
    tokenizer: Any,
    fmt: Any,
) -> list[dict[str, Any]]:
    """Rows for ``sampling.run_sampling``: every instruction x question x format x reasoning mode."""
    from triggertrace.formats import generation_prefill, render_prompt_head
    from triggertrace.io import content_hash

    planned = []
    for name, instruction in instructions.items():
        for index, question in enumerate(questions):
            for prompt_format in prompt_formats:
                head = render_prompt_head(tokenizer, fmt, prompt_format, question, instruction["text"])
                for mode in reasoning_modes:
                    row = {
                        **run,
                        "instruction": name,
                        "question_index": index,
                        "user_prompt": question,
                        "system_prompt": instruction["text"],
                        "prompt_format": prompt_format,
                        "reasoning_mode": mode,
                    }
                    row["sample_id"] = content_hash(row)[:20]
                    row["_head"], row["_prefill"] = head, generation_prefill(fmt, mode)
                    row["rendered_prompt"] = head + row["_prefill"]
                    planned.append(row)
    return planned


FOLLOW_KEYS = ["model", "adapter", "instruction", "prompt_format", "reasoning_mode"]
FOLLOW_COLUMNS = [*FOLLOW_KEYS, "check", "n", "n_followed", "rate", "ci_low", "ci_high"]


def follow_table(
    samples: Sequence[Mapping[str, Any]], instructions: Mapping[str, Mapping[str, Any]], confidence: float
) -> pl.DataFrame:
    """Follow rate with a Wilson interval per model run x instruction x format x reasoning mode."""
    groups: dict[tuple, list[bool]] = {}
    for sample in samples:
        key = tuple(sample[column] for column in FOLLOW_KEYS)
        groups.setdefault(key, []).append(follows(instructions[sample["instruction"]], sample["answer"]))
    rows = []
    for key, flags in groups.items():
        low, high = wilson_interval(sum(flags), len(flags), confidence)
        row = dict(zip(FOLLOW_KEYS, key, strict=True))
        rows.append(
            {
                **row,
                "check": instructions[row["instruction"]]["check"],
                "n": len(flags),
                "n_followed": sum(flags),
                "rate": sum(flags) / len(flags),
                "ci_low": low,
                "ci_high": high,
            }
        )
    schema = {column: pl.String for column in FOLLOW_COLUMNS}
    schema.update(n=pl.Int64, n_followed=pl.Int64, rate=pl.Float64, ci_low=pl.Float64, ci_high=pl.Float64)
    return pl.DataFrame(rows, schema=schema).sort(FOLLOW_KEYS) if rows else pl.DataFrame(schema=schema)


def follow_chart(table: pl.DataFrame) -> alt.Chart:
    """Bars of follow rate per instruction, chat and completion side by side, one panel per run."""
    import altair as alt

    data = table.with_columns(
        run=pl.concat_str(["model", "adapter"], separator=" / ") + pl.lit(" · reasoning ") + pl.col("reasoning_mode")
    )
    base = alt.Chart(data).encode(x=alt.X("instruction:N", title=None), xOffset="prompt_format:N")
    bars = base.mark_bar().encode(
        y=alt.Y("rate:Q", title="follow rate", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("prompt_format:N", title="prompt format"),
        tooltip=["model", "adapter", "instruction", "prompt_format", "n", "n_followed", "rate", "ci_low", "ci_high"],
    )
    errors = base.mark_errorbar().encode(y=alt.Y("ci_low:Q", title="follow rate"), y2="ci_high:Q")
    return (
        (bars + errors)
        .properties(width=260, height=180)
        .facet(facet=alt.Facet("run:N", title=None), columns=2)
        .properties(title="System-prompt instructions followed: chat vs raw completion")
    )
