"""Cluster resource requests for GPU jobs, from the model entry and the data size.

Deliberately coarse: requests only need the right order of magnitude, and every estimate is
multiplied by the attempt number, so a job killed for memory or time is retried with more.
Assumptions (one modern data-centre GPU): 30% of ~300 TFLOP/s bf16 for training, decoding
bound by reading the weights once per step at ~1.5 TB/s, weights read from disk at ~0.5 GB/s.
"""

from __future__ import annotations

import math
from typing import Any

from triggertrace.triggers import values_per_prompt

BASE_HOST_MB = 4096  # Python, torch, CUDA libraries, tokenizer
TRAIN_FLOPS_PER_SECOND = 0.3 * 300e12
DECODE_BYTES_PER_SECOND = 1.5e12
DECODE_STEP_OVERHEAD_S = 0.02  # kernel launches and sampling per decoding step
DISK_BYTES_PER_SECOND = 0.5e9
MIN_RUNTIME_MIN = 30
SAFETY = 2.0


def weight_bytes(entry: dict[str, Any]) -> float:
    """Bytes of the model's weights as loaded on a GPU: bf16, or ~4.5 bits with 4-bit loading."""
    bytes_per_parameter = 0.5625 if entry["runtime"]["load_in_4bit"] else 2.0
    return entry["parameters_billion"] * 1e9 * bytes_per_parameter


def host_mem_mb(entry: dict[str, Any], attempt: int) -> int:
    """Host RAM: checkpoint shards pass through host memory (bf16 on disk) while loading."""
    checkpoint_mb = entry["parameters_billion"] * 1e9 * 2 / 2**20
    return math.ceil((BASE_HOST_MB + 1.2 * checkpoint_mb) * attempt)


def _minutes(seconds: float, attempt: int) -> int:
    return math.ceil(max(MIN_RUNTIME_MIN, SAFETY * seconds / 60) * attempt)


def _load_seconds(entry: dict[str, Any]) -> float:
    return entry["parameters_billion"] * 1e9 * 2 / DISK_BYTES_PER_SECOND


def training_runtime_min(entry: dict[str, Any], n_rows: int, training: dict[str, Any], attempt: int) -> int:
    """Forward and backward through the frozen base for every token; rows assumed half max_length."""
    tokens = n_rows * training["epochs"] * training["max_length"] / 2
    flops = 6 * entry["parameters_billion"] * 1e9 * tokens
    factor = 1.33 if entry["runtime"]["gradient_checkpointing"] else 1.0  # recomputed forward
    return _minutes(_load_seconds(entry) + factor * flops / TRAIN_FLOPS_PER_SECOND, attempt)


def sampling_runtime_min(entry: dict[str, Any], n_samples: int, sampling: dict[str, Any], attempt: int) -> int:
    """Decoding steps times the time to stream the weights once per step."""
    steps = math.ceil(n_samples / sampling["batch_size"]) * sampling["max_new_tokens"]
    per_step = weight_bytes(entry) / DECODE_BYTES_PER_SECOND + DECODE_STEP_OVERHEAD_S
    return _minutes(_load_seconds(entry) + steps * per_step, attempt)


def samples_per_suite(n_prompts: int, trigger: dict[str, Any], sampling: dict[str, Any]) -> int:
    """How many completions one sampling job generates."""
    return (
        n_prompts
        * values_per_prompt(trigger, sampling["conditions"])
        * len(sampling["prompt_formats"])
        * len(sampling["reasoning_modes"])
        * sampling["n_per_prompt"]
    )
