"""A test hook for retry handling: make the first attempt of a job fail, once.

Set ``TRIGGERTRACE_FAIL_ONCE_DIR`` to a directory; a job calling ``fail_once`` then raises on its
first attempt and leaves a marker there, so the retry passes. An environment variable rather than
a config value: it must not change any rule's params, or toggling it would re-run real work.
"""

from __future__ import annotations

import os
from pathlib import Path

ENVIRONMENT_VARIABLE = "TRIGGERTRACE_FAIL_ONCE_DIR"
# "oom": the injected failure reads as a CUDA out-of-memory error (the retry asks for a larger GPU).
KIND_VARIABLE = "TRIGGERTRACE_FAIL_ONCE_AS"


class InjectedFault(RuntimeError):
    """Raised on purpose by ``fail_once``."""


def fail_once(job_key: str) -> None:
    directory = os.environ.get(ENVIRONMENT_VARIABLE)
    if not directory:
        return
    marker = Path(directory) / f"{job_key}.failed"
    if marker.exists():
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    if os.environ.get(KIND_VARIABLE) == "oom":
        raise InjectedFault(f"CUDA out of memory (injected failure of {job_key}); the retry will pass")
    raise InjectedFault(f"injected failure of {job_key} ({ENVIRONMENT_VARIABLE}={directory}); the retry will pass")
