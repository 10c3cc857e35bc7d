"""Progress of a long job step (training batches, sampled rows, judged rows, activation batches).

A job's logger writes to its rule log and to stderr, so the same lines reach the terminal of an
interactive run and the log of a SLURM job, where a progress bar redrawn in place would leave
only noise. Lines come at most every ``every_s`` seconds (and for the last item), so a 32B
sampling job that takes hours still writes a line a minute and a 10-second job only two.
"""

from __future__ import annotations

import time
from collections.abc import Callable

EVERY_S = 30.0


def eta_text(seconds: float) -> str:
    """``42 s``, ``3 min 5 s``, ``2 h 7 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class Progress:
    """``advance(n)`` after each unit of work; logs ``<what>: done/total (pct), rate/s, ETA ...``."""

    def __init__(
        self,
        what: str,
        total: int,
        log: Callable[[str], None],
        every_s: float = EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what, self.total, self.log, self.every_s, self.clock = what, total, log, every_s, clock
        self.done = 0
        self.started = self.last_line = clock()

    def advance(self, n: int = 1, note: str = "") -> None:
        self.done += n
        now = self.clock()
        if self.done < self.total and now - self.last_line < self.every_s:
            return
        self.last_line = now
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = f"ETA {eta_text((self.total - self.done) / rate)}" if rate > 0 else "ETA unknown"
        percent = 100 * self.done / self.total if self.total else 100.0
        line = f"{self.what}: {self.done}/{self.total} ({percent:.0f}%), {rate:.1f}/s, {eta}"
        self.log(f"{line}; {note}" if note else line)
