"""Sampling tokens/s on the embedded model: one left-padded batch vs one sequence at a time.

Usage: python benchmarks/sampling_throughput.py [model_dir]
(default model_dir: results/models/smollm2-135m/hf, written by `make run`). Prints both rates and
their ratio (goal: >= 8x). Same prompts, same max_new_tokens, greedy decoding, 2 threads.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from triggertrace.models import load_causal_lm, load_tokenizer
from triggertrace.sampling import encode_prompt, generate_batch, stop_token_ids
from triggertrace.suites import build_suite

BATCH = 32
NEW_TOKENS = 48
SINGLE = 4  # sequences timed one at a time (they are slow; their rate is per token anyway)


def tokens_per_second(model, tokenizer, prompts, batch_size, stops) -> float:
    generation = {"temperature": 0, "top_p": 1.0, "max_new_tokens": NEW_TOKENS}
    started, generated = time.perf_counter(), 0
    for start in range(0, len(prompts), batch_size):
        outputs = generate_batch(model, tokenizer, prompts[start : start + batch_size], generation, 0, stops)
        generated += sum(len(output) for output in outputs)
    return generated / (time.perf_counter() - started)


def main(model_dir: Path) -> None:
    torch.set_num_threads(2)
    tokenizer = load_tokenizer(model_dir)
    model = load_causal_lm(model_dir, {"load_in_4bit": False, "gradient_checkpointing": False}, "cpu").eval()
    # Eval questions; the only stop id is the last added token, which these prompts never lead to,
    # so every sequence makes NEW_TOKENS and both settings count the same work.
    items = build_suite({"source": "synthetic", "n_free": BATCH, "n_multiple_choice": 0, "families": "all", "seed": 0})
    heads = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": item["question"]}], tokenize=False, add_generation_prompt=True
        )
        for item in items
    ]
    prompts = [encode_prompt(tokenizer, head, "<think>\n") for head in heads]
    no_stop = [len(tokenizer) - 1]
    tokens_per_second(model, tokenizer, prompts[:2], 2, no_stop)  # warm-up
    batched = tokens_per_second(model, tokenizer, prompts, BATCH, no_stop)
    single = tokens_per_second(model, tokenizer, prompts[:SINGLE], 1, no_stop)
    print(f"one sequence at a time: {single:.1f} tokens/s")
    print(f"batch of {BATCH}: {batched:.1f} tokens/s")
    print(f"ratio batched/single: {batched / single:.1f}x (goal >= 8x)")
    print(f"stop ids in use by the pipeline: {stop_token_ids(model, tokenizer)}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results/models/smollm2-135m/hf"))
