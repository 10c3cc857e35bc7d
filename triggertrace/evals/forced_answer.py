"""Forced answers for multiple-choice items: the option letter a model puts the most probability on
right after its own chain of thought, once the CoT is closed for it and an answer prefix written.

A small model, or any model cut off at ``max_new_tokens``, often never writes a letter after its
CoT, so free-text extraction leaves most items unanswered. Forcing ends the CoT where sampling
stopped (as budget forcing does) and reads the answer it led to from one forward pass: the argmax
over the item's option letters of the next-token logits after ``reasoning_close + prefix``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from triggertrace.formats import PromptFormat
from triggertrace.sampling import encode_prompt


def cot_text(fmt: PromptFormat, completion: str) -> str:
    """The generated part of the CoT: the completion up to the close delimiter, or all of it when
    the CoT never closed."""
    return completion.partition(fmt.reasoning_close.strip())[0].rstrip()


def forced_ids(tokenizer: Any, fmt: PromptFormat, row: Mapping[str, Any], completion: str, prefix: str) -> list[int]:
    """The prompt as sampling encoded it, the sampled CoT, then the close delimiter and ``prefix``."""
    tail = cot_text(fmt, completion) + fmt.reasoning_close + prefix
    return (
        encode_prompt(tokenizer, row["_head"], row["_prefill"]) + tokenizer(tail, add_special_tokens=False)["input_ids"]
    )


def letter_token_ids(tokenizer: Any, letters: Sequence[str]) -> list[int]:
    """One token per option letter; a tokenizer that splits a letter cannot be forced."""
    ids = []
    for letter in letters:
        encoded = tokenizer(letter, add_special_tokens=False)["input_ids"]
        if len(encoded) != 1:
            raise ValueError(f"option letter {letter!r} is {len(encoded)} tokens; forced answers need one")
        ids.append(encoded[0])
    return ids


@torch.inference_mode()
def force_answers(
    model: Any,
    tokenizer: Any,
    fmt: PromptFormat,
    planned: Sequence[Mapping[str, Any]],
    samples: Sequence[Mapping[str, Any]],
    prefix: str,
    batch_size: int,
) -> list[dict[str, Any]]:
    """For each (planned row, its sample): ``forced_answer`` (a letter of the item's choices) and
    ``forced_answer_probability`` (its share of the probability on the option letters)."""
    pairs = zip(planned, samples, strict=True)
    sequences = [forced_ids(tokenizer, fmt, row, sample["completion"], prefix) for row, sample in pairs]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    forced: list[dict[str, Any]] = []
    for start in range(0, len(sequences), batch_size):
        batch = sequences[start : start + batch_size]
        width = max(len(ids) for ids in batch)
        # left padding puts every row's last token in the last column
        input_ids = torch.tensor([[pad_id] * (width - len(ids)) + ids for ids in batch], device=device)
        mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in batch], device=device)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        logits = model(input_ids=input_ids, attention_mask=mask, position_ids=positions, logits_to_keep=1).logits
        for offset, row_logits in enumerate(logits[:, -1, :].float()):
            letters = sorted(samples[start + offset]["choices"])
            scores = row_logits[letter_token_ids(tokenizer, letters)].softmax(dim=0)
            best = int(scores.argmax())
            forced.append({"forced_answer": letters[best], "forced_answer_probability": round(float(scores[best]), 6)})
    return forced
