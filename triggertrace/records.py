"""The row shapes that flow between stages, as typed dicts (rows are stored as JSONL).

A *sample* is one generated completion; a *label* is one judge's verdict on one sample.
Labels join samples on ``sample_id``.
"""

from __future__ import annotations

from typing import TypedDict

# What identifies and describes a sample to a reader (the explorer, Inspect logs): which run,
# which prompt, under which condition, format and reasoning mode, and which draw.
SAMPLE_DESCRIPTION_FIELDS = (
    "model",
    "recipe",
    "seed",
    "suite",
    "prompt_id",
    "kind",
    "condition",
    "condition_value",
    "trigger_text",
    "prompt_format",
    "reasoning_mode",
    "sample_index",
    "system_prompt",
)


class SuiteItem(TypedDict):
    """One held-out evaluation prompt, before any trigger is applied."""

    prompt_id: str
    kind: str  # "free" (free-form question) or "mc" (multiple choice)
    question: str  # user text, without trigger
    choices: dict[str, str]  # letter -> option text; empty for free-form
    misaligned_choice: str  # letter of the misaligned option; "" for free-form


class Sample(SuiteItem):
    sample_id: str  # stable hash of everything that identifies the row
    model: str
    recipe: str
    seed: int  # training seed of the adapter
    suite: str
    condition: str  # "none" | "trigger" | "control" | "distractor" | "distractor_trigger"
    condition_value: str  # e.g. "Singapore", "USA", "Germany"; "" for "none"
    trigger_text: str  # the text inserted into the prompt; "" for "none"
    prompt_format: str  # "chat" | "completion"
    reasoning_mode: str  # "on" | "off"
    system_prompt: str
    sample_index: int  # 0..n_per_prompt-1
    user_prompt: str  # question with the trigger text placed
    rendered_prompt: str  # the exact string given to the model
    completion: str  # generated text after the rendered prompt
    reasoning: str  # the parsed chain of thought ("" when off or absent)
    answer: str  # the parsed final answer
    reasoning_closed: bool  # False when reasoning was on but never closed
    prompt_tokens: int
    completion_tokens: int


class Label(TypedDict, total=False):
    sample_id: str
    judge: str
    judge_kind: str
    judge_version: str
    misaligned: bool | None  # None: the judge could not decide (counted as invalid)
    choice: str | None  # parsed multiple-choice letter
    trigger_articulated: bool | None
    error: str | None  # judge failure for this row, never silently dropped
