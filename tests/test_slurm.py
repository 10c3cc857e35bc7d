"""The smoke pipeline on a real single-node SLURM cluster (.ci/slurm/up.sh), not a mock."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from conftest import REPO, SNAKEMAKE, copy_workflow, fault_env

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

RUN = "tiny-random/country-singapore/seed0"
DETERMINISTIC_OUTPUTS = (
    "results/data/country-singapore/train.jsonl",
    "results/suites/heldout.jsonl",
    f"results/adapters/{RUN}/adapter_model.safetensors",
    f"results/samples/{RUN}/heldout.jsonl",
    "results/tables/misalignment.csv",
    "results/tables/sample_level.csv",
)


@pytest.fixture(scope="module")
def slurm_cluster():
    up = subprocess.run(["bash", str(REPO / ".ci/slurm/up.sh")], capture_output=True, text=True)
    if up.returncode != 0:
        if shutil.which("sbatch") is None:
            pytest.skip(f"SLURM cannot be installed on this machine:\n{up.stderr[-2000:]}")
        pytest.fail(f".ci/slurm/up.sh failed:\n{up.stdout[-2000:]}\n{up.stderr[-4000:]}")
    yield
    subprocess.run(["bash", str(REPO / ".ci/slurm/down.sh")], check=True)


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, tmp_path_factory, gguf_path):
    """The smoke config through the CI profile; the first training attempt is made to fail."""
    root = tmp_path_factory.mktemp("slurm")
    workdir = copy_workflow(root / "workflow", gguf_path)
    faults = root / "faults"
    result = subprocess.run(
        [*SNAKEMAKE, "--profile", "profiles/ci-slurm", "--configfile", "config/smoke.yaml"],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=fault_env(faults, fail_once=["train_adapter"]),
    )
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-8000:]}"
    return workdir, faults, result.stdout + result.stderr


def scontrol_job(job_id: str) -> str:
    return subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize(
    "metrics", [f"results/adapters/{RUN}/train_metrics.json", f"results/samples/{RUN}/heldout.metrics.json"]
)
def test_gpu_jobs_ran_as_slurm_jobs_that_asked_for_a_gpu(slurm_run, metrics):
    workdir, _, _ = slurm_run
    job_id = json.loads((workdir / metrics).read_text())["slurm_job_id"]
    assert job_id, f"{metrics} records no SLURM_JOB_ID: the job did not run under SLURM"
    job = scontrol_job(job_id)
    assert re.search(r"TresPerJob=\S*gpu[:=]1", job), job


def test_failed_training_attempt_was_retried(slurm_run):
    _, faults, log = slurm_run
    assert (faults / f"train_adapter-{RUN.replace('/', '-')}.failed").is_file()
    assert "injected failure of train_adapter" in log or "Trying to restart job" in log


@pytest.mark.parametrize("relative", DETERMINISTIC_OUTPUTS)
def test_outputs_equal_a_local_run(slurm_run, smoke_workflow, relative):
    workdir, _, _ = slurm_run
    assert (workdir / relative).read_bytes() == (smoke_workflow / relative).read_bytes()
