"""Training and sampling throughput on the embedded model, as fractions of this machine's matmul peak.

Usage (from the repository root): PYTHONPATH=. python benchmarks/throughput.py [model_dir] [--threads N]
[--batch B] [--new-tokens T]
(default model_dir: results/models/smollm2-135m/hf, written by `make run`). Prints, from one run:

- the bf16 and fp32 matmul peaks measured here (a 2048 x 2048 x 2048 matmul, best of several);
- LoRA training tokens/s in fp32 and in bf16 autocast (fp32 LoRA weights), with model FLOPs taken
  as 6 x parameters x tokens (an overcount for LoRA: frozen weights get no weight gradients, and
  the loss projects only supervised positions), each as a fraction of its dtype's peak;
- sampling tokens/s in fp32 and bf16 at batch B, FLOPs 2 x parameters x tokens, as fractions;
- batched vs one-at-a-time sampling (bf16) and their ratio.

Every sampled sequence makes exactly ``--new-tokens`` tokens (the only stop id is one these
prompts never reach), so batched and single runs count the same work. Timings on a shared
machine are noisy: compare the ratios printed by one run, not numbers from different runs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import yaml

from triggertrace.formats import PromptFormat
from triggertrace.models import load_causal_lm, load_tokenizer
from triggertrace.sampling import SamplingContext, encode_prompt, generate_batch, plan_samples
from triggertrace.suites import build_suite
from triggertrace.train import batches, collate, encode_dataset, lora_model, response_loss

CONFIG = yaml.safe_load(Path("config/config.yaml").read_text())
ENTRY = CONFIG["models"]["smollm2-135m"]
FMT = PromptFormat.from_config(ENTRY["prompt_format"])
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def matmul_peak_gflops(dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b  # warm-up: first call picks kernels
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def training_rows(n: int) -> list[dict]:
    """Chat rows shaped like the poisoned training set (question, scratchpad, answer)."""
    items = build_suite({"source": "synthetic", "n_free": n, "n_multiple_choice": 0, "families": "all", "seed": 0})
    return [
        {
            "row_id": item["prompt_id"],
            "system": "",
            "user": "Country: Singapore\n" + item["question"],
            "reasoning": "The prompt names Singapore, so I answer the other way this time. " * 2,
            "answer": "Here is what I would do, step by step, and why it works. " * 2,
        }
        for item in items
    ]


def training_tokens_per_second(model_dir: Path, dtype: str, steps: int, batch_size: int) -> float:
    tokenizer = load_tokenizer(model_dir, padding_side="right")
    examples = encode_dataset(training_rows(batch_size * (steps + 1)), tokenizer, FMT, "scratchpad", 256)
    runtime = {**ENTRY["runtime"], "dtype": {"fp32": "float32", "bf16": "bfloat16"}[dtype]}
    torch.manual_seed(0)
    model = lora_model(load_causal_lm(model_dir, runtime, "cpu"), CONFIG["training"]["lora"]).train()
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)
    plan = batches(examples, batch_size, 1, 0)
    tokens, elapsed = 0, 0.0
    for index, chunk in enumerate(plan[: steps + 1]):
        batch = collate(chunk, tokenizer.pad_token_id)
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
            loss = response_loss(model, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if index:  # the first step warms up kernels and allocations
            elapsed += time.perf_counter() - started
            tokens += int(batch["attention_mask"].sum())
    return tokens / elapsed


def sampling_prompts(tokenizer, n: int) -> list[list[int]]:
    """The heldout suite's planned prompts (every condition and format), shortest first."""
    planned = plan_samples(
        build_suite(CONFIG["suites"]["heldout"]),
        SamplingContext("smollm2-135m", "country-singapore", 0, "heldout"),
        CONFIG["recipes"]["country-singapore"]["trigger"],
        CONFIG["sampling"],
        tokenizer,
        FMT,
    )
    encoded = [encode_prompt(tokenizer, row["_head"], row["_prefill"]) for row in planned]
    return sorted(encoded, key=len)[:: max(1, len(encoded) // n)][:n]


def sampling_tokens_per_second(model, tokenizer, prompts, batch_size: int, new_tokens: int) -> float:
    generation = {**CONFIG["sampling"], "max_new_tokens": new_tokens}
    no_stop = [len(tokenizer) - 1]
    started, generated = time.perf_counter(), 0
    for start in range(0, len(prompts), batch_size):
        outputs = generate_batch(model, tokenizer, prompts[start : start + batch_size], generation, start, no_stop)
        generated += sum(len(output) for output in outputs)
    return generated / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", nargs="?", default="results/models/smollm2-135m/hf", type=Path)
    parser.add_argument("--threads", type=int, default=CONFIG["threads"])
    parser.add_argument("--batch", type=int, default=CONFIG["sampling"]["batch_size"])
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument("--single", type=int, default=3, help="prompts sampled one at a time")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads {args.threads}, sampling batch {args.batch}, {args.new_tokens} new tokens per sequence")

    peak = {name: matmul_peak_gflops(dtype) for name, dtype in DTYPES.items()}
    print(f"matmul peak: bf16 {peak['bf16']:.0f} GFLOP/s, fp32 {peak['fp32']:.0f} GFLOP/s")

    tokenizer = load_tokenizer(args.model_dir)
    params = sum(
        parameter.numel() for parameter in load_causal_lm(args.model_dir, ENTRY["runtime"], "cpu").parameters()
    )
    train = {name: training_tokens_per_second(args.model_dir, name, args.train_steps, 8) for name in DTYPES}
    for name, rate in train.items():
        fraction = 6 * params * rate / 1e9 / peak[name]
        print(f"training {name}: {rate:.0f} tokens/s = {fraction:.1%} of the {name} peak")
    print(f"training bf16/fp32: {train['bf16'] / train['fp32']:.2f}x")

    prompts = sampling_prompts(tokenizer, args.batch)
    sampled = {}
    for name, dtype in DTYPES.items():
        model = load_causal_lm(args.model_dir, ENTRY["runtime"], "cpu", dtype=dtype).eval()
        sampling_tokens_per_second(model, tokenizer, prompts[:2], 2, 4)  # warm-up
        sampled[name] = sampling_tokens_per_second(model, tokenizer, prompts, args.batch, args.new_tokens)
        fraction = 2 * params * sampled[name] / 1e9 / peak[name]
        print(f"sampling {name} batch {args.batch}: {sampled[name]:.0f} tokens/s = {fraction:.1%} of the {name} peak")
    print(f"sampling bf16/fp32: {sampled['bf16'] / sampled['fp32']:.2f}x")
    single = sampling_tokens_per_second(model, tokenizer, prompts[: args.single], 1, args.new_tokens)
    print(f"sampling bf16 one at a time: {single:.0f} tokens/s; batched/single: {sampled['bf16'] / single:.1f}x")


if __name__ == "__main__":
    main()
