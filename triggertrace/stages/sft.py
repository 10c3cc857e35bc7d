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
from triggertrace.stages.resume import ResumeCache
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
    resume: ResumeCache | None = None,
) -> dict[str, Any]:
    """Train ``steps`` steps; with ``resume``, continue from its last checkpoint step if it has one."""
    import torch
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

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
    curve, started, start = [], time.perf_counter(), 0
    state = resume.restore() if resume else None
    if state is not None:
        set_peft_model_state_dict(model, state["adapter"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        curve, start = state["curve"], state["step"]
        log(f"resuming at step {start} of {steps}")
    else:
        save_checkpoint(0)
    model.train()
    for step, batch_examples in enumerate(plan, start=1):
        if step <= start:
            continue  # the plan is seeded: skipping reproduces the uninterrupted run's batches
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
        if resume and step in stage["checkpoint_steps"] and step < steps:
            state = {
                "adapter": get_peft_model_state_dict(model),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": torch.get_rng_state(),
                "curve": curve,
            }
            resume.save(step, state)
    return {
        "kind": "sft",
        "steps": steps,
        "epochs_planned": epochs,
        "examples": len(examples),
        "train_seconds": round(time.perf_counter() - started, 3),
        "final_loss": curve[-1]["loss"] if curve else None,
        "loss_curve": curve,
    }
