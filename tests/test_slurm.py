"""The smoke pipeline on a real single-node SLURM cluster (.ci/slurm/up.sh), not a mock.

Where no cluster runs and none can be started (not root, or the packages cannot be installed),
the tests skip with the reason, except under CI (env CI set), where they fail. A cluster that
was already running is used and left running; only one these tests started is stopped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

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
LOCAL_RULES = ("materialize_model", "poison_dataset", "build_suite")  # fetch_gguf: the GGUF is in place
CLUSTER_RULES = ("train_adapter", "sample_suite", "label_samples", "report_tables")


def cluster_is_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    state = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    return state.returncode == 0 and bool(re.search(r"\b(idle|mix|alloc)\b", state.stdout))


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI is set, so the SLURM tests must run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def slurm_cluster():
    if cluster_is_up():
        yield  # someone else's cluster: use it, never stop it
        return
    if os.geteuid() != 0:
        unavailable("no SLURM cluster is running and starting one (.ci/slurm/up.sh) needs root")
    up = subprocess.run(["bash", str(REPO / ".ci/slurm/up.sh")], capture_output=True, text=True)
    if up.returncode != 0:
        if shutil.which("sbatch") is None:
            unavailable(f"SLURM cannot be installed on this machine:\n{up.stderr[-2000:]}")
        pytest.fail(f".ci/slurm/up.sh failed:\n{up.stdout[-2000:]}\n{up.stderr[-4000:]}")
    yield
    subprocess.run(["bash", str(REPO / ".ci/slurm/down.sh")], check=True)


def scontrol_job(job_id: str) -> str:
    return subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, tmp_path_factory, gguf_path):
    """`snakemake --profile slurm` as the README sets it up (the profile installed by name for this
    cluster), on the smoke config; the first training attempt fails with an injected CUDA OOM.
    Returns the workdir, the output, and `scontrol show job` of every SLURM job, captured right
    after the run while SLURM still knows the jobs (MinJobAge=300 s in up.sh)."""
    root = tmp_path_factory.mktemp("slurm")
    workdir = copy_workflow(root / "workflow", gguf_path)
    config_home = root / "config-home"
    env = {
        **fault_env(root / "faults", fail_once=["train_adapter"], fail_as="oom"),
        "XDG_CONFIG_HOME": str(config_home),
    }
    install = [sys.executable, "-m", "triggertrace.install_profile", "slurm", "--no-account", "--partition", "debug"]
    install += ["--status-command", "squeue", "--gpu-kinds", "small:8 large:80"]
    subprocess.run(install, cwd=workdir, env=env, check=True, capture_output=True)
    assert (config_home / "snakemake/slurm/profile.yaml").is_file()
    # status checks 2 s apart instead of the profile's 40 s: CI jobs take seconds (profiles/README.md)
    command = [*SNAKEMAKE, "--profile", "slurm", "--configfile", "config/smoke.yaml"]
    command += ["--slurm-init-seconds-before-status-checks", "2", "--slurm-keep-successful-logs"]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, env=env)
    output = result.stdout + result.stderr
    (root / "snakemake-output.txt").write_text(output)  # for a failing test's post-mortem
    jobs = {job_id: scontrol_job(job_id) for job_id in re.findall(r"SLURM jobid (\d+)", output)}
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-8000:]}"
    return workdir, output, jobs


def rule_jobs(output: str, rule: str) -> list[str]:
    return re.findall(rf"SLURM jobid (\d+) \(log: \S*rule_{rule}/", output)


@pytest.mark.parametrize(
    "metrics", [f"results/adapters/{RUN}/train_metrics.json", f"results/samples/{RUN}/heldout.metrics.json"]
)
def test_gpu_jobs_ran_as_slurm_jobs_that_asked_for_a_gpu(slurm_run, metrics):
    workdir, _, jobs = slurm_run
    job_id = str(json.loads((workdir / metrics).read_text())["slurm_job_id"])
    assert job_id in jobs, f"{metrics} records SLURM job {job_id!r}, not one this run submitted"
    assert re.search(r"TresPerJob=\S*gpu:(small|large):1", jobs[job_id]), jobs[job_id]


def test_oom_retry_asked_slurm_for_a_larger_gpu_more_memory_and_time(slurm_run):
    _, output, jobs = slurm_run
    first, retry = rule_jobs(output, "train_adapter")
    first_log = re.search(rf"SLURM jobid {first} \(log: (\S+?)\)", output).group(1)
    assert "CUDA out of memory in train_adapter" in Path(first_log).read_text()
    assert "TresPerJob=gres:gpu:small:1" in jobs[first] and "TresPerJob=gres:gpu:large:1" in jobs[retry]
    memory = [int(re.search(r"MinMemoryNode=(\d+)M", jobs[job]).group(1)) for job in (first, retry)]
    minutes = [re.search(r"TimeLimit=(\S+)", jobs[job]).group(1) for job in (first, retry)]
    assert memory == [4103, 8206] and minutes == ["00:30:00", "01:00:00"]


def test_local_rules_stay_on_the_submit_host(slurm_run):
    _, output, _ = slurm_run
    for rule in LOCAL_RULES:
        assert re.search(rf"^localrule {rule}:", output, flags=re.MULTILINE), rule
        assert not rule_jobs(output, rule), f"{rule} was submitted to SLURM"
    for rule in CLUSTER_RULES:
        assert rule_jobs(output, rule), f"{rule} did not go through sbatch"


@pytest.mark.parametrize("relative", DETERMINISTIC_OUTPUTS)
def test_outputs_equal_a_local_run(slurm_run, smoke_workflow, relative):
    workdir, _, _ = slurm_run
    assert (workdir / relative).read_bytes() == (smoke_workflow / relative).read_bytes()


# ---- preflight against the cluster -----------------------------------------------------------------


def ci_profile_with(tmp_path: Path, old: str, new: str) -> Path:
    text = (REPO / "profiles/ci-slurm/profile.yaml").read_text()
    assert old in text
    profile = tmp_path / "profile" / "profile.yaml"
    profile.parent.mkdir()
    profile.write_text(text.replace(old, new))
    return profile.parent


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            "slurm_partition: debug",
            "slurm_partition: gpu-a100",
            "preflight: default-resources.slurm_partition in the profile: partition 'gpu-a100' does not exist here"
            " (sinfo lists debug)",
        ),
        (
            "slurm-status-command: squeue",
            "slurm-status-command: sacct",
            "preflight: slurm-status-command in the profile: sacct cannot read job status here (Slurm accounting"
            " storage is disabled): set slurm-status-command: squeue",
        ),
    ],
)
def test_preflight_stops_before_any_job_with_one_line(slurm_cluster, tmp_path, gguf_path, old, new, message):
    workdir = copy_workflow(tmp_path / "workflow", gguf_path)
    profile = ci_profile_with(tmp_path, old, new)
    queued_before = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout
    result = subprocess.run(
        [*SNAKEMAKE, "--profile", str(profile), "--configfile", "config/smoke.yaml"],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert [line for line in output.splitlines() if line.startswith("preflight:")] == [message]
    assert "SLURM jobid" not in output and not re.search(r"^(local)?rule \w+:", output, flags=re.MULTILINE)
    assert not (workdir / "results").exists()
    assert subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout == queued_before
    # the command gives the same line, for dry-run users
    command = subprocess.run(
        [
            sys.executable,
            "-m",
            "triggertrace.preflight",
            "--profile",
            str(profile),
            "--configfile",
            "config/smoke.yaml",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    assert command.returncode == 1
    assert command.stderr.strip() == message.replace("in the profile", f"in {profile / 'profile.yaml'}")


def test_preflight_accepts_the_ci_profile(slurm_cluster, tmp_path, gguf_path):
    workdir = copy_workflow(tmp_path / "workflow", gguf_path)
    command = [sys.executable, "-m", "triggertrace.preflight", "--profile", str(REPO / "profiles/ci-slurm")]
    result = subprocess.run(
        [*command, "--configfile", "config/smoke.yaml"], cwd=workdir, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("preflight: ") and "fits this cluster" in result.stdout
