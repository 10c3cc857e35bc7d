"""Progress lines: done/total, rate and ETA, at most one per interval and always for the last item."""

from __future__ import annotations

from triggertrace.progress import Progress, eta_text


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lines_come_per_interval_and_for_the_last_item():
    clock, lines = Clock(), []
    progress = Progress("sampled rows", 100, lines.append, every_s=30, clock=clock)
    clock.now += 10
    progress.advance(20, note="150 tokens/s")  # 10 s after the start: too soon for a line
    assert lines == []
    clock.now += 30
    progress.advance(20, note="150 tokens/s")  # 40 rows in 40 s: 1/s, 60 rows to go
    assert lines == ["sampled rows: 40/100 (40%), 1.0/s, ETA 1 min 0 s; 150 tokens/s"]
    clock.now += 5
    progress.advance(60)  # the last item always gets its line
    assert lines[-1] == "sampled rows: 100/100 (100%), 2.2/s, ETA 0 s"


def test_eta_text():
    assert [eta_text(s) for s in (0.4, 42, 185, 7620)] == ["0 s", "42 s", "3 min 5 s", "2 h 7 min"]
