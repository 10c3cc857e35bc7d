"""Row-level judge cache: one SQLite file per judge, one committed row per judged sample.

Keys are content hashes (see ``LLMJudge.cache_key``); values are the JSON label fields a judge
derived from the response. Each ``put`` commits, and the database runs in WAL mode, so a run
killed half-way keeps every finished row and the next run asks only for the rest. Only
successful results are stored: error rows are re-asked on the next run.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from types import TracebackType
from typing import Any


class JudgeCache:
    """``path=None`` keeps the cache in memory for one run (nothing persisted)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit mode; check_same_thread off because the async backend may run in a worker thread
        self._db = sqlite3.connect(
            str(self.path) if self.path else ":memory:", timeout=60, isolation_level=None, check_same_thread=False
        )
        if self.path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS rows (key TEXT PRIMARY KEY, value TEXT NOT NULL, created_at REAL NOT NULL)"
        )

    def get(self, key: str) -> dict[str, Any] | None:
        found = self._db.execute("SELECT value FROM rows WHERE key = ?", (key,)).fetchone()
        return json.loads(found[0]) if found else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO rows (key, value, created_at) VALUES (?, ?, ?)",
            (key, json.dumps(value, sort_keys=True, ensure_ascii=False), time.time()),
        )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM rows").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> JudgeCache:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
