"""Resuming an interrupted stage from its last checkpoint step.

Snakemake deletes a failed job's outputs, so the resume state lives outside them, in a cache
directory per stage job (like the judges' row cache): a copy of every checkpoint written so far
and the training state (adapter weights, optimizer, scheduler, RNG, loss curve) at the latest.
The state is keyed by a fingerprint of the stage entry, the parent adapter and the dataset, so a
changed setting never resumes from stale state. Same seed, same bytes: a resumed run's
checkpoints equal an uninterrupted run's.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triggertrace.io import content_hash, read_json, write_json

STATE_FILE = "state.pt"


@dataclass
class ResumeCache:
    directory: Path  # the cache, outside the job's outputs
    checkpoints_dir: Path  # the job's checkpoints output
    fingerprint: str

    @classmethod
    def for_job(cls, directory: str | Path, checkpoints_dir: str | Path, *identity: Any) -> ResumeCache:
        return cls(Path(directory), Path(checkpoints_dir), content_hash(list(identity)))

    def _valid(self) -> bool:
        marker = self.directory / "fingerprint.json"
        return marker.is_file() and read_json(marker) == self.fingerprint

    def restore(self) -> dict[str, Any] | None:
        """Copy cached checkpoints into the job's checkpoints; the latest training state, or None."""
        if not self._valid() or not (self.directory / STATE_FILE).is_file():
            return None
        import torch

        for cached in sorted((self.directory / "checkpoints").iterdir()):
            shutil.copytree(cached, self.checkpoints_dir / cached.name, dirs_exist_ok=True)
        return torch.load(self.directory / STATE_FILE, weights_only=False)

    def save(self, step: int, state: dict[str, Any]) -> None:
        """Record the checkpoints written so far and the training state after ``step``."""
        import torch

        if not self._valid():
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory.mkdir(parents=True)
            write_json(self.directory / "fingerprint.json", self.fingerprint)
        # every checkpoint written so far (step 0 included), not only this one
        for source in sorted(self.checkpoints_dir.glob("step*")):
            shutil.copytree(source, self.directory / "checkpoints" / source.name, dirs_exist_ok=True)
        partial = self.directory / f"{STATE_FILE}.partial"
        torch.save({**state, "step": step}, partial)
        partial.replace(self.directory / STATE_FILE)

    def clear(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
