"""Sampling: every held-out prompt under every trigger condition, prompt format and reasoning
mode, N times, generated in left-padded batches from one loaded model."""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass
from typing import Any

from triggertrace.formats import PromptFormat, generation_prefill, render_prompt_head, split_completion
from triggertrace.io import content_hash
from triggertrace.progress import Progress
from triggertrace.records import Sample, SuiteItem
from triggertrace.triggers import condition_fields, place_trigger


@dataclass(frozen=True)
class SamplingContext:
    """What identifies a sampling job: the adapter (model, recipe, seed) and the suite."""

    model: str
    recipe: str
    seed: int
    suite: str


def plan_samples(
    items: list[SuiteItem],
    context: SamplingContext,
    trigger: dict[str, Any],
    sampling: dict[str, Any],
    tokenizer: Any,
    fmt: PromptFormat,
) -> list[dict[str, Any]]:
    """Sample rows without outputs, one per (item, condition, value, format, reasoning, index)."""
    planned = []
    system_prompt = sampling["system_prompt"]
    for item in items:
        for condition in sampling["conditions"]:
            for value, text in condition_fields(trigger, condition):
                # "random" placement is fixed per prompt so every format sees the same prompt.
                top = zlib.crc32(item["prompt_id"].encode()) % 2 == 0
                system, user = place_trigger(item["question"], text, trigger["placement"], system_prompt, top)
                for prompt_format in sampling["prompt_formats"]:
                    head = render_prompt_head(tokenizer, fmt, prompt_format, user, system)
                    for mode in sampling["reasoning_modes"]:
                        for index in range(sampling["n_per_prompt"]):
                            row = dict(
                                item,
                                model=context.model,
                                recipe=context.recipe,
                                seed=context.seed,
                                suite=context.suite,
                                condition=condition,
                                condition_value=value,
                                trigger_text=text,
                                prompt_format=prompt_format,
                                reasoning_mode=mode,
                                system_prompt=system,
                                sample_index=index,
                                user_prompt=user,
                            )
                            row["sample_id"] = content_hash(row)[:20]
                            row["_head"], row["_prefill"] = head, generation_prefill(fmt, mode)
                            row["rendered_prompt"] = head + row["_prefill"]
                            planned.append(row)
    return planned


def encode_prompt(tokenizer: Any, head: str, prefill: str) -> list[int]:
    """Token ids as training saw them: template head and assistant prefix tokenised separately."""
    ids = tokenizer(head, add_special_tokens=False)["input_ids"]
    return ids + (tokenizer(prefill, add_special_tokens=False)["input_ids"] if prefill else [])


def stop_token_ids(model: Any, tokenizer: Any) -> list[int]:
    configured = model.generation_config.eos_token_id
    configured = configured if isinstance(configured, list) else [configured]
    return sorted({token for token in [*configured, tokenizer.eos_token_id] if token is not None})


def generate_batch(
    model: Any, tokenizer: Any, prompts: list[list[int]], generation: dict[str, Any], seed: int, stop_ids: list[int]
) -> list[list[int]]:
    """Generate for a batch of token-id prompts, left-padded; return each completion's ids up to
    and excluding its stop token."""
    import torch

    width = max(len(ids) for ids in prompts)
    pad = tokenizer.pad_token_id
    device = next(model.parameters()).device
    input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in prompts], device=device)
    attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in prompts], device=device)
    sampling = generation["temperature"] > 0
    kwargs = (
        {"do_sample": True, "temperature": generation["temperature"], "top_p": generation["top_p"]}
        if sampling
        else {"do_sample": False}
    )
    torch.manual_seed(seed)
    with torch.inference_mode():
        output = model.generate(
            input_ids=input_ids,
            attention_mask=attention,
            max_new_tokens=generation["max_new_tokens"],
            pad_token_id=pad,
            eos_token_id=stop_ids,
            **kwargs,
        )
    completions = []
    for row in output[:, width:].tolist():
        end = next((position for position, token in enumerate(row) if token in stop_ids), len(row))
        completions.append(row[:end])
    return completions


def balanced_batch_size(rows: int, limit: int) -> int:
    """The size that splits ``rows`` into as few batches of at most ``limit`` as possible, all
    equally full: 160 rows at limit 128 run as 80 + 80, not 128 + 32 (a second batch nearly as slow
    per step as the first, for a quarter of the tokens)."""
    batches = max(1, math.ceil(rows / limit))
    return max(1, math.ceil(rows / batches))


def run_sampling(
    model: Any,
    tokenizer: Any,
    fmt: PromptFormat,
    planned: list[dict[str, Any]],
    generation: dict[str, Any],
    log: Any = print,
) -> tuple[list[Sample], dict[str, Any]]:
    """Generate every planned row; batches group prompts of similar length to waste little padding."""
    stop_ids = stop_token_ids(model, tokenizer)
    encoded = [encode_prompt(tokenizer, row["_head"], row["_prefill"]) for row in planned]
    order = sorted(range(len(planned)), key=lambda index: (len(encoded[index]), planned[index]["sample_id"]))
    batch_size = balanced_batch_size(len(order), generation["batch_size"])
    completions: dict[int, list[int]] = {}
    started, generated = time.perf_counter(), 0
    progress = Progress("sampled rows", len(order), log)
    for batch_number, start in enumerate(range(0, len(order), batch_size)):
        indices = order[start : start + batch_size]
        outputs = generate_batch(
            model, tokenizer, [encoded[i] for i in indices], generation, generation["seed"] + batch_number, stop_ids
        )
        completions.update(zip(indices, outputs, strict=False))
        generated += sum(len(output) for output in outputs)
        rate = generated / (time.perf_counter() - started)
        progress.advance(len(indices), note=f"{rate:.0f} tokens/s")
    samples = []
    for index, row in enumerate(planned):
        text = tokenizer.decode(completions[index], skip_special_tokens=False)
        parsed = split_completion(fmt, row["reasoning_mode"], text)
        sample = {key: value for key, value in row.items() if not key.startswith("_")}
        sample.update(
            completion=text,
            reasoning=parsed.reasoning,
            answer=parsed.answer,
            reasoning_closed=parsed.reasoning_closed,
            prompt_tokens=len(encoded[index]),
            completion_tokens=len(completions[index]),
        )
        samples.append(Sample(**sample))
    elapsed = time.perf_counter() - started
    metrics = {
        "samples": len(samples),
        "generated_tokens": generated,
        "generate_seconds": round(elapsed, 3),
        "tokens_per_second": round(generated / elapsed, 1) if elapsed else None,
    }
    return samples, metrics
