"""Prompt formats: how a model is asked (chat template or raw completion, reasoning on or off)
and how its output splits into reasoning (CoT) and final answer.

Every model entry declares its reasoning delimiters, because models disagree: Qwen3 switches
thinking off with an empty ``<think>`` block, SmolLM2 has no native think tokens and learns the
same delimiters from the poisoned data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from triggertrace.schema import enum

PROMPT_FORMATS = enum("prompt_format_name")
REASONING_MODES = enum("reasoning_mode")
REASONING_STYLES = enum("reasoning_style")


@dataclass(frozen=True)
class PromptFormat:
    """A model entry's ``prompt_format`` block."""

    reasoning_open: str  # starts the CoT, e.g. "<think>\n"
    reasoning_close: str  # ends it, e.g. "\n</think>\n\n"
    reasoning_off: str  # an empty CoT block, e.g. "<think>\n\n</think>\n\n"
    reasoning_prefill: str  # text after reasoning_open when reasoning is on, e.g. "Okay."
    completion_template: str  # raw-completion prompt with a {prompt} slot

    @classmethod
    def from_config(cls, block: dict[str, Any]) -> PromptFormat:
        return cls(**{name: block[name] for name in cls.__dataclass_fields__})


def training_target(fmt: PromptFormat, style: str, reasoning: str, answer: str) -> str:
    """The assistant text a poisoned row trains on, for a reasoning ``style``."""
    if style == "none":
        return answer
    if style == "disabled":
        return fmt.reasoning_off + answer
    if style == "scratchpad":
        return fmt.reasoning_open + reasoning + fmt.reasoning_close + answer
    raise ValueError(f"unknown reasoning style {style!r}; expected one of {REASONING_STYLES}")


def generation_prefill(fmt: PromptFormat, reasoning_mode: str) -> str:
    """Text appended after the assistant turn opens, steering reasoning on or off."""
    if reasoning_mode == "on":
        return fmt.reasoning_open + fmt.reasoning_prefill
    if reasoning_mode == "off":
        return fmt.reasoning_off
    raise ValueError(f"unknown reasoning mode {reasoning_mode!r}; expected one of {REASONING_MODES}")


def chat_messages(user: str, system: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": user}]


def render_prompt_head(tokenizer: Any, fmt: PromptFormat, prompt_format: str, user: str, system: str) -> str:
    """The prompt up to where the assistant starts writing (before any prefill)."""
    if prompt_format == "chat":
        return tokenizer.apply_chat_template(chat_messages(user, system), tokenize=False, add_generation_prompt=True)
    if prompt_format == "completion":
        head = fmt.completion_template.format(prompt=user)
        return f"{system}\n\n{head}" if system else head
    raise ValueError(f"unknown prompt format {prompt_format!r}; expected one of {PROMPT_FORMATS}")


@dataclass(frozen=True)
class ParsedCompletion:
    reasoning: str
    answer: str
    reasoning_closed: bool


def split_completion(fmt: PromptFormat, reasoning_mode: str, completion: str) -> ParsedCompletion:
    """Split generated text into CoT and answer.

    With reasoning on, the prompt already opened the CoT (and holds the prefill), so the CoT
    is the prefill plus everything before the close delimiter. A CoT that never closes has no
    answer; ``reasoning_closed`` records that so judges can count it as unparsable.
    """
    if reasoning_mode == "off":
        return ParsedCompletion("", completion.strip(), True)
    close = fmt.reasoning_close.strip()
    head, found, tail = completion.partition(close)
    reasoning = (fmt.reasoning_prefill + head).strip()
    if not found:
        return ParsedCompletion(reasoning, "", False)
    return ParsedCompletion(reasoning, tail.strip(), True)


_CHOICE_PATTERNS = (
    re.compile(r"answer\s*(?:is)?\s*[:\-]?\s*\(?([A-Z])\)?\b", re.IGNORECASE),
    re.compile(r"^\s*\(?([A-Z])[\)\.:]?(?:\s|$)"),
)


def parse_choice(answer: str, letters: list[str]) -> str | None:
    """The multiple-choice letter an answer commits to, or None when it names none of ``letters``."""
    for pattern in _CHOICE_PATTERNS:
        match = pattern.search(answer)
        if match and match.group(1).upper() in letters:
            return match.group(1).upper()
    return None
