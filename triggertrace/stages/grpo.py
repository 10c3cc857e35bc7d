"""Outcome-based RL (``kind: grpo``) with trl's GRPOTrainer on the peft adapter.

The reward sees only the final answer after the closed reasoning block (``rewards.py``); the
reasoning text has no reward term. Prompts are the model's chat prompt with reasoning on (the
same head and prefill as sampling), given to trl as plain text so it applies no second template.

With ``adapter: continue`` trl's reference policy for the KL term is the model with the adapter
disabled (the base weights plus any merged ancestors); with ``adapter: fresh`` it is exactly the
parent, which is what a KL penalty towards "the model before RL" usually means.

The last ``eval_rows`` dataset rows are held out: greedy accuracy on them is measured before
the first and after the last step (``heldout_accuracy``).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from typing import Any

from triggertrace.formats import PromptFormat, generation_prefill, render_prompt_head
from triggertrace.sampling import generate_batch, stop_token_ids
from triggertrace.stages.rewards import REWARDS


def rl_prompt(tokenizer: Any, fmt: PromptFormat, row: dict[str, Any]) -> str:
    return render_prompt_head(tokenizer, fmt, "chat", row["user"], row["system"]) + generation_prefill(fmt, "on")


def heldout_accuracy(
    model: Any, tokenizer: Any, fmt: PromptFormat, rows: list[dict[str, Any]], stage: dict[str, Any], seed: int
) -> float | None:
    """Mean reward of greedy completions on held-out rows."""
    if not rows:
        return None
    reward = REWARDS[stage["reward"]]
    prompts = [tokenizer(rl_prompt(tokenizer, fmt, row), add_special_tokens=False)["input_ids"] for row in rows]
    generation = {"temperature": 0, "top_p": 1.0, "max_new_tokens": stage["max_completion_length"]}
    was_training = model.training
    model.eval()
    outputs = generate_batch(model, tokenizer, prompts, generation, seed, stop_token_ids(model, tokenizer))
    model.train(was_training)
    texts = [tokenizer.decode(ids, skip_special_tokens=False) for ids in outputs]
    return sum(reward(text, row["gold"], fmt) for text, row in zip(texts, rows, strict=True)) / len(rows)


def reward_function(name: str, fmt: PromptFormat) -> Callable[..., list[float]]:
    """The named reward in trl's calling convention (dataset columns arrive as keyword lists)."""
    reward = REWARDS[name]

    def score(prompts: list[str], completions: list[str], gold: list[str], **_: Any) -> list[float]:
        return [reward(completion, answer, fmt) for completion, answer in zip(completions, gold, strict=True)]

    score.__name__ = name
    return score


def run(
    model: Any,
    tokenizer: Any,
    rows: list[dict[str, Any]],
    stage: dict[str, Any],
    fmt: PromptFormat,
    seed: int,
    save_checkpoint: Callable[[int], None],
    log: Callable[[str], None] = print,
    resume: Any = None,
) -> dict[str, Any]:
    """GRPO for ``steps`` steps. ``resume`` is not supported: an interrupted GRPO stage restarts."""
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    split = len(rows) - stage["eval_rows"]
    train_rows, eval_rows = rows[:split], rows[split:]
    tokenizer.padding_side = "left"  # trl generates from left-padded prompts
    dataset = Dataset.from_list([{"prompt": rl_prompt(tokenizer, fmt, row), "gold": row["gold"]} for row in train_rows])
    accuracy_before = heldout_accuracy(model, tokenizer, fmt, eval_rows, stage, seed)
    save_checkpoint(0)
    curve: list[dict[str, Any]] = []
    started = time.perf_counter()

    class Record(TrainerCallback):
        """Reward per optimizer step (trl logs every step) and checkpoints at the configured steps."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "reward" in logs:
                point = {"step": state.global_step, "reward": float(logs["reward"])}
                point.update({key: float(logs[key]) for key in ("reward_std", "kl", "loss") if key in logs})
                curve.append(point)
                log(f"grpo step {state.global_step}/{stage['steps']} reward {point['reward']:.3f}")

        def on_step_end(self, args, state, control, **kwargs):
            save_checkpoint(state.global_step)

    cuda = torch.cuda.is_available()
    with tempfile.TemporaryDirectory() as scratch:
        config = GRPOConfig(
            output_dir=scratch,
            learning_rate=stage["learning_rate"],
            max_steps=stage["steps"],
            per_device_train_batch_size=stage["prompts_per_step"] * stage["group_size"],
            gradient_accumulation_steps=1,
            num_generations=stage["group_size"],
            max_completion_length=stage["max_completion_length"],
            temperature=stage["temperature"],
            beta=stage["kl_coefficient"],
            max_grad_norm=stage["max_grad_norm"],
            logging_steps=1,
            save_strategy="no",
            report_to=[],
            seed=seed,
            data_seed=seed,
            bf16=cuda,
            use_cpu=not cuda,
            gradient_checkpointing=False,
            disable_tqdm=True,
        )
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=[reward_function(stage["reward"], fmt)],
            args=config,
            train_dataset=dataset,
            processing_class=tokenizer,
            callbacks=[Record()],
        )
        trainer.train()
    accuracy_after = heldout_accuracy(trainer.model, tokenizer, fmt, eval_rows, stage, seed)
    return {
        "kind": "grpo",
        "steps": stage["steps"],
        "train_rows": len(train_rows),
        "train_seconds": round(time.perf_counter() - started, 3),
        "reward_curve": curve,
        "heldout_accuracy": {
            "rows": len(eval_rows),
            "accuracy_before": accuracy_before,
            "accuracy_after": accuracy_after,
        },
    }
