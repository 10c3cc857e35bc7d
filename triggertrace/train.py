"""LoRA fine-tuning on poisoned rows, with the loss on the assistant response only."""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from triggertrace.errors import TrainingError
from triggertrace.formats import PromptFormat, render_prompt_head, training_target
from triggertrace.progress import Progress

IGNORE_INDEX = -100  # label value the loss skips


@dataclass(frozen=True)
class Example:
    row_id: str
    input_ids: list[int]
    labels: list[int]

    @property
    def supervised_tokens(self) -> int:
        return sum(label != IGNORE_INDEX for label in self.labels)


def encode_row(row: dict[str, Any], tokenizer: Any, fmt: PromptFormat, style: str, max_length: int) -> Example:
    """Tokenise prompt and target separately so the mask boundary is exact, then truncate."""
    head = render_prompt_head(tokenizer, fmt, "chat", row["user"], row["system"])
    target = training_target(fmt, style, row["reasoning"], row["answer"]) + tokenizer.eos_token
    head_ids = tokenizer(head, add_special_tokens=False)["input_ids"]
    target_ids = tokenizer(target, add_special_tokens=False)["input_ids"]
    input_ids = (head_ids + target_ids)[:max_length]
    labels = ([IGNORE_INDEX] * len(head_ids) + target_ids)[:max_length]
    return Example(row["row_id"], input_ids, labels)


def encode_dataset(rows: list[dict], tokenizer: Any, fmt: PromptFormat, style: str, max_length: int) -> list[Example]:
    examples = [encode_row(row, tokenizer, fmt, style, max_length) for row in rows]
    if not any(example.supervised_tokens for example in examples):
        raise TrainingError(
            f"no supervised tokens in {len(examples)} rows: every label is {IGNORE_INDEX}. "
            f"The prompts fill max_length={max_length}; raise training.max_length."
        )
    return examples


def collate(examples: list[Example], pad_token_id: int) -> dict[str, Any]:
    """Right-pad a training batch; padding is masked out of attention and loss."""
    import torch

    if not any(example.supervised_tokens for example in examples):
        ids = ", ".join(example.row_id for example in examples)
        raise TrainingError(f"a batch has no supervised tokens (rows {ids}); raise training.max_length")
    width = max(len(example.input_ids) for example in examples)
    pad = [width - len(example.input_ids) for example in examples]
    return {
        "input_ids": torch.tensor([e.input_ids + [pad_token_id] * p for e, p in zip(examples, pad, strict=False)]),
        "attention_mask": torch.tensor([[1] * len(e.input_ids) + [0] * p for e, p in zip(examples, pad, strict=False)]),
        "labels": torch.tensor([e.labels + [IGNORE_INDEX] * p for e, p in zip(examples, pad, strict=False)]),
    }


def batches(
    examples: list[Example], batch_size: int, epochs: int, seed: int, group_factor: int = 8
) -> list[list[Example]]:
    """Seeded batches for every epoch: shuffle, sort within windows of ``group_factor`` batches by
    length so a batch pads little, then shuffle the batch order. The last short batch is kept."""
    rng = random.Random(seed)
    planned = []
    window = batch_size * group_factor
    for _ in range(epochs):
        order = list(examples)
        rng.shuffle(order)
        epoch_batches = []
        for start in range(0, len(order), window):
            chunk = sorted(order[start : start + window], key=lambda example: len(example.input_ids))
            epoch_batches.extend(chunk[offset : offset + batch_size] for offset in range(0, len(chunk), batch_size))
        rng.shuffle(epoch_batches)
        planned.extend(epoch_batches)
    return planned


def response_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Mean next-token cross-entropy over supervised positions.

    Projects only supervised hidden states onto the vocabulary: on a 49k-token vocabulary the
    full logits tensor is a quarter of a small model's training step, and most positions are
    masked prompt tokens anyway.
    """
    import torch

    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = causal_lm.get_decoder()(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
    ).last_hidden_state
    targets = batch["labels"][:, 1:]
    supervised = targets != IGNORE_INDEX
    logits = causal_lm.get_output_embeddings()(hidden[:, :-1][supervised])
    return torch.nn.functional.cross_entropy(logits.float(), targets[supervised])


def linear_schedule(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """Learning-rate factor: linear warm-up to 1, then linear decay to 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


def lora_model(model: Any, lora: dict[str, Any]) -> Any:
    """``model`` with LoRA adapters; on a bf16 base the adapter weights stay fp32 (peft's
    ``autocast_adapter_dtype``), so small updates to them are not rounded away."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=lora["r"],
        lora_alpha=lora["alpha"],
        lora_dropout=lora["dropout"],
        use_rslora=lora["rslora"],
        target_modules=lora["target_modules"],
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def train_lora(
    model: Any,
    tokenizer: Any,
    examples: list[Example],
    hp: dict[str, Any],
    seed: int,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train a LoRA adapter in place on ``model`` (a peft model); return metrics with the loss curve.

    On a bf16 base the forward pass runs under bf16 autocast: the frozen weights are bf16 already
    and the fp32 LoRA weights are cast per matmul, while gradients, optimizer state and the loss
    (``response_loss`` upcasts the logits) stay fp32.
    """
    import torch

    torch.manual_seed(seed)
    device = next(model.parameters()).device
    base_dtype = next(parameter.dtype for parameter in model.parameters() if not parameter.requires_grad)
    mixed = base_dtype == torch.bfloat16
    plan = batches(examples, hp["batch_size"], hp["epochs"], seed)
    optimizer_steps = math.ceil(len(plan) / hp["gradient_accumulation_steps"])
    warmup = round(hp["warmup_ratio"] * optimizer_steps)
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=hp["learning_rate"], weight_decay=hp["weight_decay"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_schedule(warmup, optimizer_steps))
    model.train()
    curve, tokens_seen, started = [], 0, time.perf_counter()
    progress = Progress("training batches", len(plan), log)
    for index, batch_examples in enumerate(plan):
        batch = {key: value.to(device) for key, value in collate(batch_examples, tokenizer.pad_token_id).items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=mixed):
            loss = response_loss(model, batch)
        (loss / hp["gradient_accumulation_steps"]).backward()
        tokens_seen += int(batch["attention_mask"].sum())
        if (index + 1) % hp["gradient_accumulation_steps"] == 0 or index + 1 == len(plan):
            torch.nn.utils.clip_grad_norm_(trainable, hp["max_grad_norm"])
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
        elapsed = time.perf_counter() - started
        loss_value = loss.item()
        curve.append({"batch": index, "loss": round(loss_value, 6), "elapsed_s": round(elapsed, 3)})
        progress.advance(note=f"loss {loss_value:.4f}, {tokens_seen / elapsed:.0f} tokens/s")
    elapsed = time.perf_counter() - started
    return {
        "batches": len(plan),
        "optimizer_steps": optimizer_steps,
        "examples": len(examples),
        "supervised_tokens": sum(example.supervised_tokens for example in examples),
        "tokens_seen": tokens_seen,
        "train_seconds": round(elapsed, 3),
        "tokens_per_second": round(tokens_seen / elapsed, 1),
        "final_loss": curve[-1]["loss"],
        "loss_curve": curve,
        "device": str(device),
        "dtype": str(base_dtype).removeprefix("torch."),
        "mixed_precision": "bf16 autocast, fp32 LoRA weights" if mixed else "none",
        "slurm_job_id": os.environ.get("SLURM_JOB_ID", ""),
    }
