"""Check a SLURM site against the profile and the config before any job is queued.

Run by the workflow on start when the executor is slurm (rules/common.smk ``onstart``), and on its
own, e.g. before a dry run:

    python -m triggertrace.preflight --profile slurm --configfile config/hpc-qwen3.yaml

Checks, with sinfo/sacct/scontrol/sbatch --test-only: the partition exists; the account is accepted
(or not needed); the configured status command can read job status (sacct needs accounting, else
use squeue); the partition GPU jobs go to has GPUs of every kind the config may request; and
bitsandbytes is importable when a model loads in 4 bits. The first problem found is one line that
names the setting to change.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from triggertrace.schema import validate_config

PLACEHOLDER = re.compile(r"^<.*>$")
GPU_RULES = ("train_adapter", "sample_suite")
MIN_JOB_AGE_FOR_SQUEUE_S = 120  # the slurm plugin's own threshold for reliable squeue status


class PreflightError(RuntimeError):
    """One line naming the setting to change."""


@dataclass
class SiteSettings:
    """What the checks need, from a profile (or a running workflow) and the config."""

    source: str  # where the settings come from, named in messages (the profile file)
    partition: str | None
    account: str | None
    status_command: str | None  # None: the plugin's default (sacct where installed)
    gpu_partition: str | None  # partition of the GPU rules (set-resources), else ``partition``
    gpu_kinds: list[str] = field(default_factory=list)  # kinds jobs may request ([]: any GPU)
    needs_gpu: bool = True
    four_bit_models: list[str] = field(default_factory=list)


def _run(command: list[str]) -> tuple[int, str]:
    result = subprocess.run(command, capture_output=True, text=True)
    return result.returncode, (result.stdout + result.stderr).strip()


def _slurm_config() -> dict[str, str]:
    _, text = _run(["scontrol", "show", "config"])
    return dict(re.findall(r"^(\w+)\s*=\s*(.*?)\s*$", text, flags=re.MULTILINE))


def accounting_enabled(slurm_config: dict[str, str]) -> bool:
    return slurm_config.get("AccountingStorageType", "accounting_storage/none") != "accounting_storage/none"


def partitions() -> list[str]:
    _, text = _run(["sinfo", "-h", "-o", "%R"])
    return sorted(set(text.split()))


def gpu_kinds_in(partition: str) -> tuple[bool, set[str]]:
    """(has any GPU, the typed kinds) of a partition, from sinfo's GRES column."""
    _, text = _run(["sinfo", "-h", "-p", partition, "-o", "%G"])
    has_gpu, kinds = False, set()
    for gres in re.split(r"[,\s]+", text):
        parts = re.sub(r"\(.*?\)", "", gres).split(":")
        if parts[0] == "gpu":
            has_gpu = True
            if len(parts) == 3:
                kinds.add(parts[1])
    return has_gpu, kinds


def check_status_command(settings: SiteSettings, slurm_config: dict[str, str]) -> None:
    command = settings.status_command or ("sacct" if shutil.which("sacct") else "squeue")
    if command == "sacct":
        code, text = _run(["sacct", "-n", "-X", "-o", "JobID", "-S", "now-1minutes"])
        if code != 0 or "accounting storage is disabled" in text.lower():
            raise PreflightError(
                f"slurm-status-command in {settings.source}: sacct cannot read job status here ({text.splitlines()[0]}"
                "): set slurm-status-command: squeue"
            )
        return
    min_age = re.match(r"\d+", slurm_config.get("MinJobAge", "300"))
    if min_age and int(min_age.group()) < MIN_JOB_AGE_FOR_SQUEUE_S:
        raise PreflightError(
            f"slurm-status-command in {settings.source}: squeue forgets finished jobs after MinJobAge="
            f"{min_age.group()} s (< {MIN_JOB_AGE_FOR_SQUEUE_S} s): use sacct, or ask the admins to raise MinJobAge"
        )


def check_partition(settings: SiteSettings, known: list[str]) -> None:
    partition = settings.partition
    if partition and PLACEHOLDER.match(partition):
        raise PreflightError(
            f"default-resources.slurm_partition in {settings.source} is still {partition!r}: "
            f"set one of {', '.join(known)}"
        )
    for name, key in ((partition, "default-resources.slurm_partition"), (settings.gpu_partition, "set-resources")):
        if name and name not in known:
            raise PreflightError(
                f"{key} in {settings.source}: partition {name!r} does not exist here (sinfo lists {', '.join(known)})"
            )


def check_account(settings: SiteSettings, slurm_config: dict[str, str]) -> None:
    account = settings.account
    if account and PLACEHOLDER.match(account):
        needed = "set your account" if accounting_enabled(slurm_config) else "delete the line (accounting is off)"
        raise PreflightError(f"default-resources.slurm_account in {settings.source} is still {account!r}: {needed}")
    if not account:
        return
    command = ["sbatch", "--test-only", "-A", account, "-t", "1", "--wrap", "true"]
    if settings.partition:
        command[2:2] = ["-p", settings.partition]
    code, text = _run(command)
    if code != 0:
        raise PreflightError(
            f"default-resources.slurm_account in {settings.source}: the cluster rejects account {account!r} ({text})"
        )


def check_gpus(settings: SiteSettings) -> None:
    if not settings.needs_gpu:
        return
    partition = settings.gpu_partition or settings.partition
    if not partition:
        return
    has_gpu, kinds = gpu_kinds_in(partition)
    if not has_gpu:
        raise PreflightError(
            f"set-resources.<train_adapter|sample_suite>.slurm_partition in {settings.source}: partition "
            f"{partition!r} has no GPUs"
        )
    missing = [kind for kind in settings.gpu_kinds if kind not in kinds]
    if missing:
        raise PreflightError(
            f"gpu_kinds (config: in {settings.source}, or cluster.gpu_model): partition {partition!r} has no "
            f"GPU of kind {', '.join(missing)} (it has {', '.join(sorted(kinds)) or 'untyped GPUs only'})"
        )


def check_bitsandbytes(settings: SiteSettings) -> None:
    if settings.four_bit_models and importlib.util.find_spec("bitsandbytes") is None:
        raise PreflightError(
            f"models.{settings.four_bit_models[0]}.runtime.load_in_4bit: bitsandbytes is not installed "
            "(pip install -r requirements-cuda.txt on the CUDA nodes' environment)"
        )


def check(settings: SiteSettings) -> None:
    """Raise PreflightError naming the first setting the site rejects."""
    if shutil.which("sinfo") is None:
        raise PreflightError(f"{settings.source}: SLURM's sinfo is not on PATH: run this on the cluster's submit host")
    slurm_config = _slurm_config()
    check_partition(settings, partitions())
    check_account(settings, slurm_config)
    check_status_command(settings, slurm_config)
    check_gpus(settings)
    check_bitsandbytes(settings)


# ---- settings from the config ------------------------------------------------------------------


def requested_gpu_kinds(config: dict[str, Any]) -> list[str]:
    """Every GPU kind a job may ask for: the profile's table, else the fixed cluster.gpu_model."""
    from triggertrace.resources import parse_gpu_kinds

    table = config.get("gpu_kinds", "")
    if table:
        return [name for name, _ in parse_gpu_kinds(table)]
    return [config["cluster"]["gpu_model"]] if config["cluster"]["gpu_model"] else []


def four_bit_models(config: dict[str, Any]) -> list[str]:
    used = {experiment["model"] for experiment in config["experiments"]}
    return sorted(name for name in used if config["models"][name]["runtime"]["load_in_4bit"])


def needs_gpu(config: dict[str, Any]) -> bool:
    return config["cluster"]["gpus_per_job"] > 0


# ---- settings from a profile file (the command) ----------------------------------------------------


def profile_file(profile: str) -> Path:
    """Where Snakemake finds ``--profile <profile>``: a path, or a name under the working directory,
    $XDG_CONFIG_HOME/snakemake (~/.config/snakemake) and /etc/xdg/snakemake."""
    from snakemake.cli import get_profile_dir

    found = get_profile_dir(profile)
    if found is None:
        raise PreflightError(f"--profile {profile}: no such profile (see profiles/README.md to install it)")
    return found[1]


def merged_config(configfiles: list[str]) -> dict[str, Any]:
    from snakemake.utils import update_config

    config: dict[str, Any] = {}
    for path in ["config/config.yaml", *configfiles]:
        update_config(config, yaml.safe_load(Path(path).read_text()))
    validate_config(config)  # the schema's defaults filled in, as the workflow sees the config
    return config


def settings_from_profile(path: Path, config: dict[str, Any]) -> SiteSettings:
    profile = yaml.safe_load(path.read_text()) or {}
    defaults = profile.get("default-resources") or {}
    overrides = profile.get("set-resources") or {}
    gpu_partitions = {(overrides.get(rule) or {}).get("slurm_partition") for rule in GPU_RULES} - {None}
    config = {**config, **(profile.get("config") or {})}
    return SiteSettings(
        source=str(path),
        partition=defaults.get("slurm_partition"),
        account=defaults.get("slurm_account"),
        status_command=profile.get("slurm-status-command"),
        gpu_partition=next(iter(sorted(gpu_partitions)), None),
        gpu_kinds=requested_gpu_kinds(config),
        needs_gpu=needs_gpu(config),
        four_bit_models=four_bit_models(config),
    )


# ---- settings from a running workflow (onstart) -------------------------------------------------


def resource_constant(resources: Any, name: str) -> str | None:
    """A string resource that does not depend on the job (e.g. the profile's slurm_partition), or
    None. Snakemake parses command-line and profile resources as expressions, so evaluate it."""
    if resources is None or name not in resources:
        return None
    resource = resources[name]
    try:
        if resource.is_evaluable():
            resource = resource.evaluate({}, [], 1, 1, "preflight", None)
        value = resource.value
    except Exception:  # an expression that needs a job's wildcards or input
        return None
    return value if isinstance(value, str) else None


def settings_from_workflow(workflow: Any, config: dict[str, Any]) -> SiteSettings:
    """The same settings as Snakemake resolved them (profile, command line, defaults)."""

    resource_settings = workflow.resource_settings
    overrides = resource_settings.overwrite_resources or {}
    gpu_partitions = {resource_constant(overrides.get(rule), "slurm_partition") for rule in GPU_RULES} - {None}
    return SiteSettings(
        source="the profile",
        partition=resource_constant(resource_settings.default_resources, "slurm_partition"),
        account=resource_constant(resource_settings.default_resources, "slurm_account"),
        status_command=getattr(workflow.executor_settings, "status_command", None),
        gpu_partition=next(iter(sorted(gpu_partitions)), None),
        gpu_kinds=requested_gpu_kinds(config),
        needs_gpu=needs_gpu(config),
        four_bit_models=four_bit_models(config),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triggertrace.preflight", description=__doc__.split("\n")[0])
    parser.add_argument("--profile", required=True, help="profile name or path, as given to snakemake")
    parser.add_argument("--configfile", nargs="*", default=[], help="config files layered over config/config.yaml")
    args = parser.parse_args(argv)
    try:
        path = profile_file(args.profile)
        check(settings_from_profile(path, merged_config(args.configfile)))
    except PreflightError as error:
        print(f"preflight: {error}", file=sys.stderr)
        return 1
    print(f"preflight: {path} fits this cluster ({os.uname().nodename})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
