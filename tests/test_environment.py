"""The conda environments (for `--sdm conda` on sites with conda) pin what requirements.txt pins."""

from __future__ import annotations

import re

import yaml
from conftest import REPO

# The workflow's and the tests' tools (installed where snakemake runs, not inside the rules' environments).
DRIVER_ONLY = {"snakemake", "snakemake-executor-plugin-slurm", "pytest", "ruff", "snakefmt", "playwright"}


def pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)==(\S+)\s*", line.split("#")[0])
        if match:
            found[match.group(1).lower()] = match.group(2)
    return found


def requirement_pins(name: str) -> dict[str, str]:
    lines = (REPO / name).read_text().splitlines()
    found = pins(lines)
    for line in lines:
        if line.startswith("-r "):
            found.update(requirement_pins(line.split()[1]))
    return found


def conda_pins(name: str) -> dict[str, str]:
    environment = yaml.safe_load((REPO / "envs" / name).read_text())
    pip = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    return pins(pip)


def test_conda_environment_pins_equal_requirements():
    expected = {name: version for name, version in requirement_pins("requirements.txt").items()}
    expected = {name: version for name, version in expected.items() if name not in DRIVER_ONLY}
    assert conda_pins("triggertrace.yaml") == expected


def test_cuda_variants_add_exactly_bitsandbytes():
    cuda = requirement_pins("requirements-cuda.txt")
    assert set(cuda) - set(requirement_pins("requirements.txt")) == {"bitsandbytes"}
    expected = {name: version for name, version in cuda.items() if name not in DRIVER_ONLY}
    assert conda_pins("triggertrace-cuda.yaml") == expected


def test_conda_environment_python_matches_pyproject():
    environment = yaml.safe_load((REPO / "envs" / "triggertrace.yaml").read_text())
    assert "python=3.11" in environment["dependencies"]
    assert 'requires-python = ">=3.11"' in (REPO / "pyproject.toml").read_text()
