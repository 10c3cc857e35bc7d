"""Resource requests for GPU rules, and the sbatch command the slurm plugin builds from them."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml
from conftest import REPO

from triggertrace import resources as estimate

DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
TRAINING, SAMPLING = DEFAULT["training"], DEFAULT["sampling"]
TRIGGER = DEFAULT["recipes"]["country-singapore"]["trigger"]


def entry(billions: float, four_bit: bool = False) -> dict:
    return {"parameters_billion": billions, "runtime": {"load_in_4bit": four_bit, "gradient_checkpointing": True}}


SMALL, MID, LARGE = entry(0.135), entry(8.0), entry(32.0, four_bit=True)


def test_host_memory_covers_the_checkpoint_and_grows_with_attempts():
    assert 4096 < estimate.host_mem_mb(SMALL, 1) < 8000
    assert 16 * 1024 < estimate.host_mem_mb(MID, 1) < 32 * 1024  # 16 GB of bf16 weights
    assert 64 * 1024 < estimate.host_mem_mb(LARGE, 1) < 96 * 1024  # shards pass through host RAM
    assert estimate.host_mem_mb(MID, 2) == pytest.approx(2 * estimate.host_mem_mb(MID, 1), abs=1)


def test_gpu_weights_shrink_with_four_bit_loading():
    assert estimate.weight_bytes(entry(32.0)) / estimate.weight_bytes(LARGE) == pytest.approx(2 / 0.5625)


def test_runtimes_grow_with_model_size_data_and_attempt():
    small = estimate.training_runtime_min(SMALL, 600, TRAINING, 1)
    large = estimate.training_runtime_min(LARGE, 600, TRAINING, 1)
    huge_data = estimate.training_runtime_min(LARGE, 60_000, TRAINING, 1)
    assert small == estimate.MIN_RUNTIME_MIN
    assert small <= large < huge_data
    assert 60 < huge_data < 48 * 60
    assert estimate.training_runtime_min(LARGE, 60_000, TRAINING, 2) == pytest.approx(2 * huge_data, abs=1)
    samples = estimate.samples_per_suite(12, TRIGGER, SAMPLING)
    assert samples == 12 * (1 + 1 + 1 + 2) * 2 * 1 * 2
    assert estimate.sampling_runtime_min(SMALL, samples, SAMPLING, 1) <= estimate.sampling_runtime_min(
        LARGE, 100 * samples, SAMPLING, 1
    )


def dry_run_resources(config: str, rule: str) -> dict[str, str]:
    """The evaluated resources of the first job of ``rule`` in a dry run of ``config``."""
    output = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", config],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    block = output.split(f"rule {rule}:")[1].split("\n\n")[0]
    line = re.search(r"resources: (.*)", block).group(1)
    return dict(pair.split("=", 1) for pair in line.split(", "))


class FakeJob:
    """The attributes of a Snakemake job that the slurm plugin reads to build its sbatch call."""

    def __init__(self, resources: dict, threads: int):
        self.resources = type("Resources", (dict,), {"__getattr__": dict.__getitem__})(resources)
        self.threads = threads


@pytest.mark.parametrize("config, model_gb", [("config/config.yaml", 0), ("config/hpc-qwen3.yaml", 16)])
def test_training_sbatch_requests_a_gpu_and_no_site_settings(config, model_gb):
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    found = dry_run_resources(config, "train_adapter")
    typed = {key: int(value) if value.isdigit() else value for key, value in found.items()}
    assert typed["gpu"] == 1 and typed["mem_mb"] > model_gb * 1024 and typed["runtime"] >= 30
    assert not {"slurm_account", "slurm_partition", "qos", "slurm_extra"} & set(typed)
    job = FakeJob(typed, threads=2)
    params = {
        "run_uuid": "u",
        "slurm_logfile": "log",
        "comment_str": "train_adapter",
        "account": "",
        "partition": "",
        "workdir": "/w",
    }
    call = get_submit_command(job, params) + set_gres_string(job)
    assert "--gpus=1" in call and f"--mem {typed['mem_mb']}" in call and f"-t {typed['runtime']}" in call
    assert "--cpus-per-gpu" in call or "--cpus-per-task" in call
    assert " -A " not in call and " -p " not in call


def test_light_rules_never_ask_for_a_gpu():
    for rule in ("label_samples", "report_tables"):
        assert "gpu" not in dry_run_resources("config/config.yaml", rule)
