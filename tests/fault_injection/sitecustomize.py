"""Test-only faults in pipeline jobs, kept out of the production scripts.

Python imports ``sitecustomize`` at start-up from ``sys.path``, so a test that puts this directory
on ``PYTHONPATH`` (``conftest.fault_env``) reaches every job Snakemake starts, locally and under
SLURM (jobs inherit the environment). Nothing happens unless ``TRIGGERTRACE_FAULT_DIR`` is set.
The fault strikes right after the job's ``script_logger`` is set up, as a real error would:

- ``TRIGGERTRACE_FAIL_ONCE=<rule>[,<rule>...]``: the first attempt of each job of these rules
  raises ``InjectedFault`` and leaves ``<dir>/<job>.failed``; the retry passes. With
  ``TRIGGERTRACE_FAIL_AS=oom`` the failure reads as a CUDA out-of-memory error (the retry then asks
  a cluster for a larger GPU kind).
- ``TRIGGERTRACE_HANG=<rule>[,<rule>...]``: the job half-writes its first output (``partial``),
  leaves ``<dir>/<job>.started`` and sleeps, so that a test can interrupt the run in the middle of it.

``<job>`` is the job's log path below ``results/logs/`` with ``/`` as ``-``, e.g.
``train_adapter-tiny-random-country-singapore-seed0``. Environment variables rather than config:
they must not change any rule's params, or toggling them would re-run real work.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
import time
from pathlib import Path, PurePath

HOOKED_MODULE = "triggertrace.logs"
HANG_SECONDS = 3600


class InjectedFault(RuntimeError):
    """Raised on purpose in a job of a rule named in ``TRIGGERTRACE_FAIL_ONCE``."""


def _rules(variable: str) -> set[str]:
    return {name.strip() for name in os.environ.get(variable, "").split(",") if name.strip()}


def job_key(log_path: str) -> str:
    parts = PurePath(log_path).with_suffix("").parts
    below_logs = parts[parts.index("logs") + 1 :] if "logs" in parts else parts
    return "-".join(below_logs)


def inject(rule: str, log_path: str) -> None:
    directory = Path(os.environ["TRIGGERTRACE_FAULT_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    key = job_key(log_path)
    marker = directory / f"{key}.failed"
    if rule in _rules("TRIGGERTRACE_FAIL_ONCE") and not marker.exists():
        marker.touch()
        cause = "CUDA out of memory" if os.environ.get("TRIGGERTRACE_FAIL_AS") == "oom" else "injected failure"
        raise InjectedFault(f"{cause} in {key} (TRIGGERTRACE_FAIL_ONCE); the retry will pass")
    if rule in _rules("TRIGGERTRACE_HANG"):
        job = sys.modules["__main__"].snakemake  # the object Snakemake's script preamble defines
        Path(job.output[0]).parent.mkdir(parents=True, exist_ok=True)
        Path(job.output[0]).write_text("partial\n")
        (directory / f"{key}.started").touch()
        time.sleep(HANG_SECONDS)


def _patch(module) -> None:
    original = module.script_logger

    def script_logger(name: str, log_path: str):
        logger = original(name, log_path)
        inject(name, log_path)
        return logger

    module.script_logger = script_logger


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Wraps ``script_logger`` when ``triggertrace.logs`` is first imported, before any script
    takes a reference to it."""

    def find_spec(self, fullname, path, target=None):
        if fullname != HOOKED_MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            _patch(module)

        spec.loader.exec_module = exec_module
        return spec


if os.environ.get("TRIGGERTRACE_FAULT_DIR"):
    sys.meta_path.insert(0, _PatchOnImport())
