"""Cluster resource requests for GPU jobs: GPU memory, GPU kind, host RAM and runtime.

Estimates come from the model entry (parameters, 4-bit loading), the model's shape (layers,
KV heads, head size, hidden size, vocabulary: ``cluster.model_shapes`` in the config, or a rough
fit to the parameter count), the LoRA rank, batch size, sequence length and, for sampling, the KV
cache at ``max_new_tokens``. They only need the right order of magnitude: a job killed for memory
or time is retried with more (memory and time scale with the attempt; after a CUDA out-of-memory
error the retry asks for the next larger GPU kind of the site's table).

Throughput assumptions (one modern data-centre GPU): 30% of ~300 TFLOP/s bf16 for training,
decoding bound by reading the weights and the KV cache once per step at ~1.5 TB/s, bitsandbytes
4-bit kernels 1.5x slower than bf16 (dequantisation on every matmul), weights read from disk at
~0.5 GB/s. ``describe_*`` return these assumptions as one line for the job log.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from triggertrace.triggers import values_per_prompt

GB = 1e9
MIB = 2**20
BASE_HOST_MB = 4096  # Python, torch, CUDA libraries, tokenizer
SHARD_BUFFER_MB = 5 * 1024  # one safetensors shard (<= 5 GB on the hub) held while it is quantised
BF16_BYTES = 2.0
FOUR_BIT_BYTES = 0.5625  # 4-bit NF4 plus block-wise scales (~4.5 bits per parameter)
CUDA_CONTEXT_GB = 1.5  # CUDA context, cuBLAS workspace, allocator fragmentation
LORA_BYTES_PER_PARAMETER = 16  # fp32 weight + gradient + two Adam moments
ACTIVATION_BYTES_PER_HIDDEN = 34  # per token and hidden unit of one layer, bf16, flash attention
TRAIN_FLOPS_PER_SECOND = 0.3 * 300e12
DECODE_BYTES_PER_SECOND = 1.5e12
DECODE_STEP_OVERHEAD_S = 0.02  # kernel launches and sampling per decoding step
FOUR_BIT_SLOWDOWN = 1.5
DISK_BYTES_PER_SECOND = 0.5e9
MIN_RUNTIME_MIN = 30
SAFETY = 2.0
LORA_MATRICES_PER_LAYER = 7  # q, k, v, o, gate, up, down: each a rank-r pair


@dataclass(frozen=True)
class ModelShape:
    """What memory depends on beyond the parameter count."""

    num_layers: int
    num_kv_heads: int
    head_dim: int
    hidden_size: int
    vocab_size: int
    fitted: bool = False  # True: guessed from the parameter count, not read from the config

    @property
    def kv_bytes_per_token(self) -> float:
        """Keys and values of every layer for one token, bf16."""
        return 2 * self.num_layers * self.num_kv_heads * self.head_dim * BF16_BYTES


def model_shape(entry: dict[str, Any], shapes: dict[str, Any], name: str) -> ModelShape:
    """The configured shape of model ``name``, or a fit to its parameter count.

    The fit (layers ~ 11 sqrt(billions), 8 KV heads of 128, hidden from 12 L h^2 = N, a 150k
    vocabulary) is within ~1.5x of Llama 3 and Qwen3 from 1B to 70B; set ``cluster.model_shapes``
    for a model whose KV cache matters (long sampling).
    """
    if name in shapes:
        return ModelShape(**shapes[name])
    billions = entry["parameters_billion"]
    layers = max(2, round(11 * math.sqrt(billions)))
    hidden = int(math.sqrt(billions * GB / (12 * layers)))
    return ModelShape(layers, 8, 128, hidden, 150_000, fitted=True)


def weight_bytes(entry: dict[str, Any]) -> float:
    """Bytes of the model's weights as loaded on a GPU: bf16, or ~4.5 bits with 4-bit loading."""
    bytes_per_parameter = FOUR_BIT_BYTES if entry["runtime"]["load_in_4bit"] else BF16_BYTES
    return entry["parameters_billion"] * GB * bytes_per_parameter


def lora_parameters(shape: ModelShape, rank: int) -> float:
    """A rank-r pair (hidden x r, r x hidden) per adapted matrix per layer (MLP widths ignored)."""
    return shape.num_layers * LORA_MATRICES_PER_LAYER * rank * 2 * shape.hidden_size


def training_gpu_bytes(entry: dict[str, Any], shape: ModelShape, training: dict[str, Any]) -> dict[str, float]:
    """GPU memory of LoRA training, by part (bytes)."""
    tokens = training["batch_size"] * training["max_length"]
    layer_activations = tokens * shape.hidden_size * ACTIVATION_BYTES_PER_HIDDEN
    if entry["runtime"]["gradient_checkpointing"]:
        # one bf16 hidden state kept per layer; one layer's activations live while recomputed
        activations = tokens * shape.hidden_size * BF16_BYTES * shape.num_layers + layer_activations
    else:
        activations = layer_activations * shape.num_layers
    return {
        "weights": weight_bytes(entry),
        "lora": lora_parameters(shape, training["lora"]["r"]) * LORA_BYTES_PER_PARAMETER,
        "activations": activations,
        "logits": tokens * shape.vocab_size * 4 * 2,  # fp32 logits and their gradient
        "cuda": CUDA_CONTEXT_GB * GB,
    }


def sampling_gpu_bytes(
    entry: dict[str, Any], shape: ModelShape, sampling: dict[str, Any], prompt_tokens: int
) -> dict[str, float]:
    """GPU memory of batched sampling, by part (bytes): the KV cache holds every sequence of the
    batch at prompt + max_new_tokens (reasoning fills the budget)."""
    context = prompt_tokens + sampling["max_new_tokens"]
    return {
        "weights": weight_bytes(entry),
        "kv_cache": sampling["batch_size"] * context * shape.kv_bytes_per_token,
        "logits": sampling["batch_size"] * shape.vocab_size * 4,
        "cuda": CUDA_CONTEXT_GB * GB,
    }


def activations_gpu_bytes(
    entry: dict[str, Any], shape: ModelShape, batch_size: int, context_tokens: int, n_layers: int
) -> dict[str, float]:
    """GPU memory of one activation-extraction batch, by part (bytes): a forward pass without a KV
    cache over prompt + CoT, the chosen layers' hidden states kept (bf16 from the hooks plus the
    fp32 stack), one layer's working set at a time, and the logits of the last position only."""
    tokens = batch_size * context_tokens
    return {
        "weights": weight_bytes(entry),
        "kept_layers": tokens * shape.hidden_size * n_layers * (BF16_BYTES + 4),
        "layer_working_set": tokens * shape.hidden_size * ACTIVATION_BYTES_PER_HIDDEN,
        "logits": batch_size * shape.vocab_size * 4,
        "cuda": CUDA_CONTEXT_GB * GB,
    }


def gpu_mem_mb(parts: dict[str, float], gpus: int) -> int:
    """Per-GPU memory in MiB (the model is split evenly over the job's GPUs)."""
    return math.ceil(sum(parts.values()) / max(gpus, 1) / MIB)


def parse_gpu_kinds(table: str) -> list[tuple[str, float]]:
    """``"l40s:48 a100:80"`` -> [("l40s", 48.0), ("a100", 80.0)], smallest memory first."""
    kinds = []
    for item in table.split():
        name, _, memory = item.partition(":")
        try:
            kinds.append((name, float(memory)))
        except ValueError:
            raise ValueError(f"gpu_kinds: {item!r} is not <gpu kind>:<memory in GB>") from None
    return sorted(kinds, key=lambda kind: kind[1])


def gpu_kind(table: str, needed_mb: int, larger_steps: int) -> str:
    """The smallest GPU kind that holds ``needed_mb``, then ``larger_steps`` kinds larger (one per
    CUDA out-of-memory failure); the largest when none is large enough. '' without a table."""
    kinds = parse_gpu_kinds(table)
    if not kinds:
        return ""
    fitting = [index for index, (_, memory) in enumerate(kinds) if memory * GB >= needed_mb * MIB]
    first = fitting[0] if fitting else len(kinds) - 1
    return kinds[min(first + larger_steps, len(kinds) - 1)][0]


def host_mem_mb(entry: dict[str, Any], attempt: int) -> int:
    """Host RAM: the weights as loaded pass through host memory, plus one checkpoint shard that
    4-bit loading reads in bf16 before quantising it (never the whole bf16 checkpoint)."""
    loaded_mb = weight_bytes(entry) / MIB
    shard_mb = SHARD_BUFFER_MB if entry["runtime"]["load_in_4bit"] else 0
    return math.ceil((BASE_HOST_MB + shard_mb + 1.2 * loaded_mb) * attempt)


def _minutes(seconds: float, attempt: int) -> int:
    return math.ceil(max(MIN_RUNTIME_MIN, SAFETY * seconds / 60) * attempt)


def _load_seconds(entry: dict[str, Any]) -> float:
    return entry["parameters_billion"] * GB * BF16_BYTES / DISK_BYTES_PER_SECOND


def _kernel_factor(entry: dict[str, Any]) -> float:
    return FOUR_BIT_SLOWDOWN if entry["runtime"]["load_in_4bit"] else 1.0


def training_seconds(entry: dict[str, Any], n_rows: int, training: dict[str, Any]) -> float:
    """Forward and backward through the frozen base for every token; rows assumed half max_length."""
    tokens = n_rows * training["epochs"] * training["max_length"] / 2
    flops = 6 * entry["parameters_billion"] * GB * tokens
    recompute = 1.33 if entry["runtime"]["gradient_checkpointing"] else 1.0  # recomputed forward
    return _load_seconds(entry) + recompute * _kernel_factor(entry) * flops / TRAIN_FLOPS_PER_SECOND


def training_runtime_min(entry: dict[str, Any], n_rows: int, training: dict[str, Any], attempt: int) -> int:
    return _minutes(training_seconds(entry, n_rows, training), attempt)


def sampling_seconds(
    entry: dict[str, Any], shape: ModelShape, n_samples: int, sampling: dict[str, Any], prompt_tokens: int
) -> float:
    """Every batch decodes ``max_new_tokens`` steps; each step streams the weights and, on average,
    half the batch's final KV cache."""
    batches = math.ceil(n_samples / sampling["batch_size"])
    average_kv = sampling["batch_size"] * (prompt_tokens + sampling["max_new_tokens"] / 2) * shape.kv_bytes_per_token
    per_step = (
        _kernel_factor(entry) * weight_bytes(entry) + average_kv
    ) / DECODE_BYTES_PER_SECOND + DECODE_STEP_OVERHEAD_S
    return _load_seconds(entry) + batches * sampling["max_new_tokens"] * per_step


def sampling_runtime_min(
    entry: dict[str, Any], shape: ModelShape, n_samples: int, sampling: dict[str, Any], prompt_tokens: int, attempt: int
) -> int:
    return _minutes(sampling_seconds(entry, shape, n_samples, sampling, prompt_tokens), attempt)


def samples_per_suite(n_prompts: int, trigger: dict[str, Any], sampling: dict[str, Any]) -> int:
    """How many completions one sampling job generates."""
    return (
        n_prompts
        * values_per_prompt(trigger, sampling["conditions"])
        * len(sampling["prompt_formats"])
        * len(sampling["reasoning_modes"])
        * sampling["n_per_prompt"]
    )


def out_of_memory_failures(log_text: str) -> int:
    """1 when a failed attempt's log shows a CUDA out-of-memory error (the next attempt then asks
    for a larger GPU kind), else 0. Matches torch's ``OutOfMemoryError`` message."""
    return int("CUDA out of memory" in log_text or "OutOfMemoryError" in log_text)


def describe(
    rule: str, parts: dict[str, float], shape: ModelShape, gpus: int, kind: str, seconds: float, **facts: Any
) -> str:
    """One line for the log: the estimate and everything it assumed."""
    breakdown = " + ".join(f"{name} {value / GB:.1f}" for name, value in parts.items())
    stated = ", ".join(f"{key}={value}" for key, value in facts.items())
    shape_source = "fitted to the parameter count" if shape.fitted else "from cluster.model_shapes"
    return (
        f"{rule} resource estimate: GPU memory {breakdown} = {sum(parts.values()) / GB:.1f} GB over {gpus} GPU(s)"
        f" -> kind {kind or 'any'}; compute {seconds / 60:.1f} min before the x{SAFETY:g} margin; {stated};"
        f" shape {shape.num_layers} layers, {shape.num_kv_heads}x{shape.head_dim} KV, hidden {shape.hidden_size}"
        f" ({shape_source}); assumes {TRAIN_FLOPS_PER_SECOND / 1e12:.0f} TFLOP/s training,"
        f" {DECODE_BYTES_PER_SECOND / 1e12:.1f} TB/s decoding, 4-bit kernels x{FOUR_BIT_SLOWDOWN:g} slower"
    )


def use_hf_home(path: str) -> None:
    """Point the Hugging Face cache at ``path`` (relative to the working directory) for this process
    and every job it starts (SLURM jobs inherit the environment); ``""`` keeps the user's own."""
    if path:
        os.environ["HF_HOME"] = os.path.abspath(os.path.expanduser(path))
