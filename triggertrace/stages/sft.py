"""Continued supervised fine-tuning (``kind: sft``): a fixed number of optimizer steps on clean
rows, loss on the assistant response only, checkpoints at the configured steps.

One batch is one optimizer step; the batch plan is the poisoned stage's (seeded shuffle, length
windows), repeated over as many epochs as ``steps`` needs and cut at ``steps``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from triggertrace.formats import PromptFormat
from triggertrace.train import batches, collate, encode_dataset, linear_schedule, response_loss


def step_plan(n_examples: int, batch_size: int, steps: int) -> int:
    """Epochs of batches needed to cover ``steps`` optimizer steps."""
    return max(1, math.ceil(steps / math.ceil(n_examples / batch_size)))


def run(
    model: Any,
    tokenizer: Any,
    rows: list[dict[str, Any]],
    stage: dict[str, Any],
    fmt: PromptFormat,
    seed: int,
    save_checkpoint: Callable[[int], None],
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    import torch

    torch.manual_seed(seed)
    examples = encode_dataset(rows, tokenizer, fmt, stage["reasoning_style"], stage["max_length"])
    steps = stage["steps"]
    epochs = step_plan(len(examples), stage["batch_size"], steps)
    plan = batches(examples, stage["batch_size"], epochs, seed)[:steps]
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=stage["learning_rate"], weight_decay=stage["weight_decay"])
    warmup = round(stage["warmup_ratio"] * steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_schedule(warmup, steps))
    device = next(model.parameters()).device
    save_checkpoint(0)
    model.train()
    curve, started = [], time.perf_counter()
    for step, batch_examples in enumerate(plan, start=1):
        batch = {key: value.to(device) for key, value in collate(batch_examples, tokenizer.pad_token_id).items()}
        loss = response_loss(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, stage["max_grad_norm"])
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        curve.append(
            {"step": step, "loss": round(loss.item(), 6), "elapsed_s": round(time.perf_counter() - started, 3)}
        )
        if step % 10 == 0 or step == steps:
            log(f"sft step {step}/{steps} loss {curve[-1]['loss']:.4f}")
        save_checkpoint(step)
    return {
        "kind": "sft",
        "steps": steps,
        "epochs_planned": epochs,
        "examples": len(examples),
        "train_seconds": round(time.perf_counter() - started, 3),
        "final_loss": curve[-1]["loss"] if curve else None,
        "loss_curve": curve,
    }
