"""Resource requests: GPU memory, GPU kind, host RAM and runtime estimates against hand-derived
figures, and the requests a dry run of a copied workflow evaluates from the config."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from triggertrace import resources as estimate

DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
HPC = yaml.safe_load((REPO / "config" / "hpc-qwen3.yaml").read_text())
MIB = 2**20

# Shapes from the models' config.json (Qwen3-8B, Qwen3-32B, Llama-3.1-70B).
QWEN3_8B = estimate.ModelShape(num_layers=36, num_kv_heads=8, head_dim=128, hidden_size=4096, vocab_size=151936)
QWEN3_32B = estimate.ModelShape(num_layers=64, num_kv_heads=8, head_dim=128, hidden_size=5120, vocab_size=151936)
LLAMA_70B = estimate.ModelShape(num_layers=80, num_kv_heads=8, head_dim=128, hidden_size=8192, vocab_size=128256)
TRAINING = {"batch_size": 8, "max_length": 256, "lora": {"r": 16}}
REASONING_SAMPLING = {"batch_size": 64, "max_new_tokens": 2048}
TABLE = "a100:80 l40s:48 h200:141"  # deliberately unsorted


def entry(billions: float, four_bit: bool) -> dict:
    return {"parameters_billion": billions, "runtime": {"load_in_4bit": four_bit, "gradient_checkpointing": True}}


Q8, Q32, L70 = entry(8.2, False), entry(32.8, True), entry(70.6, True)


def test_8b_bf16_lora_is_16_gb_of_weights_plus_activations():
    parts = estimate.training_gpu_bytes(Q8, QWEN3_8B, TRAINING)
    tokens = 8 * 256
    assert parts["weights"] == pytest.approx(8.2e9 * 2)
    assert parts["lora"] == 36 * 7 * 16 * 2 * 4096 * 16  # r x (in + out) per matrix, fp32 + grad + Adam
    assert parts["activations"] == tokens * 4096 * 2 * 36 + tokens * 4096 * 34  # checkpoints + one layer
    assert parts["logits"] == tokens * 151936 * 8
    total = 16.4e9 + 528_482_304 + 889_192_448 + 2_489_319_424 + 1.5e9
    assert estimate.gpu_mem_mb(parts, 1) == math.ceil(total / MIB) == 20797
    assert estimate.gpu_kind(TABLE, 20797, 0) == "l40s"


def test_32b_4bit_lora_needs_25_to_35_gb_and_sampling_37_gb_of_kv_cache_on_18_gb_of_weights():
    training = estimate.training_gpu_bytes(Q32, QWEN3_32B, TRAINING)
    assert training["weights"] == pytest.approx(32.8e9 * 0.5625) == pytest.approx(18.45e9)
    assert 25e9 <= sum(training.values()) <= 35e9
    sampling = estimate.sampling_gpu_bytes(Q32, QWEN3_32B, REASONING_SAMPLING, prompt_tokens=256)
    kv_per_token = 2 * 64 * 8 * 128 * 2  # K and V, every layer, bf16
    assert sampling["kv_cache"] == 64 * (256 + 2048) * kv_per_token == 38_654_705_664
    needed = estimate.gpu_mem_mb(sampling, 1)
    assert needed == math.ceil((18.45e9 + 38_654_705_664 + 64 * 151936 * 4 + 1.5e9) / MIB)
    assert estimate.gpu_kind(TABLE, needed, 0) == "a100"  # 58.6 GB: not an L40S
    assert estimate.gpu_kind(TABLE, estimate.gpu_mem_mb(training, 1), 0) == "l40s"


def test_70b_4bit_sampling_needs_the_largest_kind_and_training_an_80_gb_one():
    training = estimate.training_gpu_bytes(L70, LLAMA_70B, TRAINING)
    sampling = estimate.sampling_gpu_bytes(L70, LLAMA_70B, REASONING_SAMPLING, prompt_tokens=256)
    assert training["weights"] == pytest.approx(70.6e9 * 0.5625)
    assert sampling["kv_cache"] == 64 * 2304 * (2 * 80 * 8 * 128 * 2)
    assert estimate.gpu_kind(TABLE, estimate.gpu_mem_mb(training, 1), 0) == "a100"  # 48.9 GB > 48
    assert estimate.gpu_kind(TABLE, estimate.gpu_mem_mb(sampling, 1), 0) == "h200"  # 89.6 GB
    assert estimate.gpu_mem_mb(sampling, 2) == math.ceil(sum(sampling.values()) / 2 / MIB)  # split over 2


def test_out_of_memory_retry_asks_for_the_next_larger_kind():
    assert estimate.gpu_kind(TABLE, 30_000, 0) == "l40s"
    assert estimate.gpu_kind(TABLE, 30_000, 1) == "a100"
    assert estimate.gpu_kind(TABLE, 30_000, 2) == "h200"
    assert estimate.gpu_kind(TABLE, 200_000, 0) == "h200"  # nothing fits: the largest
    assert estimate.gpu_kind("", 30_000, 1) == ""
    oom = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
    assert estimate.out_of_memory_failures(oom) == 1
    assert estimate.out_of_memory_failures("RuntimeError: NCCL timeout") == 0


def test_host_ram_for_4bit_is_not_sized_as_bf16():
    # base 4096 + one 5 GB shard + 1.2 x the 4-bit weights (18.45e9 B), not 1.2 x the 65.6 GB checkpoint
    assert estimate.host_mem_mb(Q32, 1) == math.ceil(4096 + 5120 + 1.2 * 18.45e9 / MIB) == 30331
    assert estimate.host_mem_mb(Q32, 1) < 1.2 * 32.8e9 * 2 / MIB / 2
    assert estimate.host_mem_mb(Q8, 1) == math.ceil(4096 + 1.2 * 16.4e9 / MIB) == 22865
    assert estimate.host_mem_mb(Q8, 2) == math.ceil(2 * (4096 + 1.2 * 16.4e9 / MIB))


def test_sampling_runtime_counts_generated_tokens_and_4bit_slowdown():
    # 50 batches x 2048 steps; a step reads 1.5 x 18.45 GB (4-bit kernels) + the mean KV cache
    step = (1.5 * 18.45e9 + 64 * (256 + 1024) * 262_144) / 1.5e12 + 0.02
    seconds = 32.8e9 * 2 / 0.5e9 + 50 * 2048 * step
    assert estimate.sampling_seconds(Q32, QWEN3_32B, 50 * 64, REASONING_SAMPLING, 256) == pytest.approx(seconds)
    assert estimate.sampling_runtime_min(Q32, QWEN3_32B, 50 * 64, REASONING_SAMPLING, 256, 1) == 185
    assert estimate.sampling_runtime_min(Q32, QWEN3_32B, 50 * 64, REASONING_SAMPLING, 256, 2) == 369
    short = {**REASONING_SAMPLING, "max_new_tokens": 64}
    assert estimate.sampling_runtime_min(Q32, QWEN3_32B, 50 * 64, short, 256, 1) == 30  # the floor


def test_training_runtime_scales_with_data_and_4bit():
    hp = {"epochs": 3, "max_length": 256}
    tokens = 60_000 * 3 * 128
    bf16 = 32.8e9 * 2 / 0.5e9 + 1.33 * 6 * 32.8e9 * tokens / 90e12
    four_bit = 32.8e9 * 2 / 0.5e9 + 1.33 * 1.5 * 6 * 32.8e9 * tokens / 90e12
    assert estimate.training_seconds(entry(32.8, False), 60_000, hp) == pytest.approx(bf16)
    assert estimate.training_seconds(Q32, 60_000, hp) == pytest.approx(four_bit)
    assert estimate.training_runtime_min(Q32, 60_000, hp, 1) == math.ceil(2 * four_bit / 60)


def test_fitted_shape_is_close_to_the_real_one():
    assert estimate.model_shape(Q32, {}, "x").num_layers == round(11 * math.sqrt(32.8)) == 63
    assert estimate.model_shape(Q32, {"x": QWEN3_32B.__dict__}, "x") == QWEN3_32B


# ---- dry runs of a copied workflow ---------------------------------------------------------------


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory) -> Path:
    """The workflow without results/: a dry run plans every job, whatever the repository holds."""
    destination = tmp_path_factory.mktemp("dry") / "workflow"
    destination.mkdir()
    for name in ("Snakefile", "rules", "scripts", "config", "triggertrace", "profiles", "envs"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, destination / name)
    return destination


def dry_run(workdir: Path, *args: str, path: str | None = None) -> str:
    env = {**os.environ, "PATH": path} if path else None
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", *args], cwd=workdir, capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def job_resources(output: str, rule: str, match: str = "") -> dict[str, str]:
    """The evaluated resources of the first job of ``rule`` (whose block contains ``match``)."""
    for block in output.split(f"rule {rule}:")[1:]:
        block = block.split("\n\n")[0]
        if match in block:
            line = re.search(r"resources: (.*)", block).group(1)
            return dict(pair.split("=", 1) for pair in line.split(", "))
    raise AssertionError(f"no {rule} job matching {match!r}")


def test_default_config_requests_exact_values(workflow_copy):
    output = dry_run(workflow_copy)
    cluster = DEFAULT["cluster"]
    train = job_resources(output, "train_adapter")
    assert train["gpu"] == str(cluster["gpus_per_job"]) == "1"
    assert train["cpus_per_gpu"] == str(cluster["cpus_per_gpu"]) == "2"
    assert train["gpu_model"] == cluster["gpu_model"] == ""
    # SmolLM2-135M bf16: 4096 + 1.2 x 0.135e9 x 2 B
    assert train["mem_mb"] == str(math.ceil(4096 + 1.2 * 0.135e9 * 2 / MIB)) == "4405"
    assert train["runtime"] == "30"
    for rule in ("report_tables", "report_figures"):
        light = job_resources(output, rule)
        assert light["mem_mb"] == str(cluster["light_mem_mb"]) == "2000"
        assert light["runtime"] == str(cluster["light_runtime_min"]) == "30"
        assert "gpu" not in light
    lexicon = job_resources(output, "label_samples", "results/labels/lexicon/")
    assert (lexicon["mem_mb"], lexicon["runtime"], "gpu" in lexicon) == ("2000", "30", False)


def test_local_llm_judge_gets_gpu_resources_like_sampling(workflow_copy):
    output = dry_run(workflow_copy, "--configfile", "config/smoke.yaml")
    judge = job_resources(output, "label_samples", "results/labels/alignment_tiny/")
    assert judge["gpu"] == "1"
    assert int(judge["gpu_mem_mb"]) > 1.5e9 / MIB  # at least the CUDA context
    assert judge["mem_mb"] == str(math.ceil(4096 + 1.2 * 0.003e9 * 2 / MIB))


def test_api_judges_label_on_the_submit_host_under_a_shared_request_cap(workflow_copy):
    output = dry_run(workflow_copy, "--configfile", "config/openai-judges.yaml")
    api = job_resources(output, "label_samples_on_submit_host", "results/labels/alignment_gpt4o/")
    assert api["requests_api_openai_com"] == "8"  # the judge's concurrency, under the cap of 16
    lexicon = job_resources(output, "label_samples", "results/labels/lexicon/")
    assert lexicon["requests_api_openai_com"] == "0"
    assert "results/labels/alignment_gpt4o/" not in "".join(output.split("rule label_samples:")[1:]).split("rule ")[0]


def test_hpc_config_requests_gpu_memory_and_kind_from_the_profile_table(workflow_copy):
    output = dry_run(workflow_copy, "--configfile", "config/hpc-qwen3.yaml", "--config", f"gpu_kinds={TABLE}")
    train32 = job_resources(output, "train_adapter", "model=qwen3-32b")
    sample32 = job_resources(output, "sample_suite", "model=qwen3-32b")
    assert train32["gpu_model"] == "l40s" and sample32["gpu_model"] == "l40s"  # 64 new tokens: small KV cache
    assert train32["mem_mb"] == "30331"  # the 4-bit host RAM above, not 79 GB
    assert train32["cpus_per_gpu"] == "8"
    assert "resource estimate: GPU memory weights 18.4" in output


def test_retry_after_cuda_oom_asks_for_the_next_larger_kind(workflow_copy):
    log = workflow_copy / "results/logs/train_adapter/tiny-random/country-singapore/seed0.log"
    args = ("--configfile", "config/smoke.yaml", "--config", "gpu_kinds=small:8 large:80")
    first = job_resources(dry_run(workflow_copy, *args, "--attempt", "2"), "train_adapter")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("InjectedFault: CUDA out of memory (injected failure of train_adapter)\n")
    try:
        retry = job_resources(dry_run(workflow_copy, *args, "--attempt", "2"), "train_adapter")
    finally:
        log.unlink()
    assert first["gpu_model"] == "small"  # a failure that was not OOM: same kind, more RAM and time
    assert retry["gpu_model"] == "large"
    assert retry["mem_mb"] == first["mem_mb"] == str(math.ceil(2 * (4096 + 1.2 * 0.003e9 * 2 / MIB)))


def test_slurm_profile_dry_runs_without_slurm(workflow_copy, tmp_path):
    tools = tmp_path / "bin"  # PATH with the venv and basic tools, but no sinfo/sbatch/squeue
    tools.mkdir()
    for tool in ("which", "bash", "sh", "env", "uname", "hostname"):
        if shutil.which(tool):
            (tools / tool).symlink_to(shutil.which(tool))
    path = f"{Path(sys.executable).parent}:{tools}"
    output = dry_run(workflow_copy, "--profile", "profiles/slurm", "--configfile", "config/smoke.yaml", path=path)
    train = job_resources(output, "train_adapter")
    assert train["slurm_partition"] == "<your-partition>" and train["gpu"] == "1"
    assert "train_adapter" in output and "This was a dry-run" in output


def test_local_profile_caps_gpu_jobs_at_one():
    profile = yaml.safe_load((REPO / "profiles/local/profile.yaml").read_text())
    assert profile["resources"] == ["gpu=1"]


def test_32b_activations_keep_only_the_chosen_layers_and_the_last_logits():
    context = 256 + 2048  # prompt + CoT, no KV cache
    parts = estimate.activations_gpu_bytes(Q32, QWEN3_32B, batch_size=16, context_tokens=context, n_layers=8)
    tokens = 16 * context
    assert parts["kept_layers"] == tokens * 5120 * 8 * (2 + 4) == 9_059_696_640  # bf16 hooks + fp32 stack
    assert parts["layer_working_set"] == tokens * 5120 * 34 == 6_417_285_120
    assert parts["logits"] == 16 * 151936 * 4  # one position, not [tokens, vocab]: 9.7 MB, not 22 GB
    eight = estimate.gpu_mem_mb(parts, 1)
    assert eight == math.ceil((18.45e9 + 9_059_696_640 + 6_417_285_120 + 16 * 151936 * 4 + 1.5e9) / MIB)
    assert estimate.gpu_kind(TABLE, eight, 0) == "l40s"  # 35.4 GB
    every = estimate.gpu_mem_mb(estimate.activations_gpu_bytes(Q32, QWEN3_32B, 16, context, 64), 1)
    assert estimate.gpu_kind(TABLE, every, 0) == "h200"  # all 64 layers: 72 GB of kept states alone
