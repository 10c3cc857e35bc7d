"""Dry-run time of a large sweep: how long Snakemake takes to plan >= 2,000 jobs of a grid.

Usage: python benchmarks/dry_run_scale.py [--seeds 23] [--repeats 2]
Copies the workflow to a temporary directory (so the repository's results/ do not shorten the
plan), writes a config over config/smoke.yaml whose one experiment declares a `grid:` (poisoned
row count x learning rate: 10 derived recipes) on the tiny model, on N seeds x 2 suites x 3 judges
(9 jobs per seed and grid point), and prints the number of planned jobs and the seconds of
`snakemake -n` (best of the repeats). Goal: under 15 s for >= 2,000 jobs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ("Snakefile", "rules", "scripts", "config", "triggertrace", "profiles", "envs")
# the sweep: every combination becomes one experiment with a readable derived recipe name
GRID = {"recipe.counts.triggered_misaligned": [4, 8, 16, 32, 64], "training.learning_rate": [1.0e-3, 3.0e-4]}


def grid_config(seeds: int) -> dict:
    return {
        "experiments": [
            {
                "model": "tiny-random",
                "recipe": "country-singapore",
                "seeds": list(range(seeds)),
                "suites": ["heldout", "extra"],
                "grid": GRID,
            }
        ],
        "suites": {"extra": {"source": "synthetic", "n_free": 2, "n_multiple_choice": 0, "families": "all", "seed": 1}},
    }


def planned_jobs(output: str) -> int:
    match = re.search(r"^total\s+(\d+)$", output, flags=re.MULTILINE)
    if match is None:
        sys.exit(f"no job count in the dry run's output:\n{output[-3000:]}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=23)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        for name in WORKFLOW_FILES:
            source = REPO / name
            copy = shutil.copytree if source.is_dir() else shutil.copy2
            copy(source, workdir / name)
        (workdir / "config" / "grid.yaml").write_text(yaml.safe_dump(grid_config(args.seeds)))
        command = [sys.executable, "-m", "snakemake", "-n", "--quiet", "rules"]
        command += ["--configfile", "config/smoke.yaml", "config/grid.yaml"]
        timings, cpu, jobs = [], [], 0
        for _ in range(args.repeats):
            start, start_cpu = time.perf_counter(), os.times()
            result = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
            timings.append(time.perf_counter() - start)
            end_cpu = os.times()
            # CPU seconds as well: on a shared machine the wall time includes waiting for a core
            cpu.append(
                end_cpu.children_user + end_cpu.children_system - start_cpu.children_user - start_cpu.children_system
            )
            if result.returncode != 0:
                sys.exit(result.stderr[-3000:])
            jobs = planned_jobs(result.stdout + result.stderr)
    best = timings.index(min(timings))
    points = len(GRID["recipe.counts.triggered_misaligned"]) * len(GRID["training.learning_rate"])
    print(
        f"jobs={jobs} grid_points={points} seeds={args.seeds} seconds={timings[best]:.1f} "
        f"cpu_seconds={cpu[best]:.1f} (best of {args.repeats})"
    )


if __name__ == "__main__":
    main()
