"""Row-level judge cache: append-only JSONL shards, one per label job, merged on read.

A judge's answers live under one directory (``results/cache/judges/<judge>/``); each label job
appends to its own shard (``<shard>.jsonl``, the shard named from the job's wildcards) and reads
every shard of the directory, so a rerun of the same job and the judge's other jobs reuse each
other's answers. No file is ever written by two processes and nothing relies on file locks or
shared-memory journals, which is what keeps the cache safe on network filesystems (NFS, Lustre,
GPFS) where SQLite's WAL mode is not.

A line is ``{"key": ..., "value": ...}``: the key a content hash (see ``LLMJudge.cache_key``), the
value the backend's answer as JSON. Each ``put`` writes one line, flushes and fsyncs it, so a job
killed half-way keeps every finished answer and the next run asks only for the rest. A shard's
last line without its newline (a write cut short, or a line another job is writing right now)
is ignored; the owning job cuts such a fragment off before it appends. Only successful answers
are stored: error rows are asked again on the next run.

When several shards hold the same key (two jobs asked the same prompt at the same time), the job's
own shard wins, then the others in sorted path order, so a rerun of a job reproduces its labels.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)

SHARD_SUFFIX = ".jsonl"


def _shard_path(directory: Path, shard: str) -> Path:
    """``directory/<shard>.jsonl``; the shard may have sub-directories but may not leave ``directory``."""
    parts = PurePosixPath(shard).parts
    if not shard or PurePosixPath(shard).is_absolute() or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"judge cache shard {shard!r} must be a relative path inside the cache directory")
    return directory.joinpath(*parts).with_name(parts[-1] + SHARD_SUFFIX)


def read_shard(path: Path) -> dict[str, dict[str, Any]]:
    """The answers in one shard, first line per key winning; a last line without newline is ignored.

    A broken line before the last (which only a hand-edited file has) is skipped with a warning:
    a cache line lost costs one more request, never a wrong label.
    """
    entries: dict[str, dict[str, Any]] = {}
    data = path.read_bytes()
    lines = data.split(b"\n")
    complete = lines[:-1]  # the piece after the last newline is empty or an unfinished line
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            key, value = record["key"], record["value"]
            if not isinstance(key, str) or not isinstance(value, dict):
                raise TypeError("key must be a string and value an object")
        except (ValueError, KeyError, TypeError) as error:
            log.warning("judge cache %s:%d: unreadable line skipped (%s)", path, number, error)
            continue
        entries.setdefault(key, value)
    return entries


class JudgeCache:
    """The merged shards of ``directory``, appending to ``<shard>.jsonl``.

    ``directory=None`` keeps the cache in memory for one run (nothing persisted).
    """

    def __init__(self, directory: str | Path | None, shard: str = "default") -> None:
        self.directory = Path(directory) if directory is not None else None
        self.shard_path = _shard_path(self.directory, shard) if self.directory is not None else None
        self._entries: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()  # the async backend may report answers from a worker thread
        self._file: Any = None
        if self.directory is None or self.shard_path is None:
            return
        own = self.shard_path
        if own.is_file():
            self._entries.update(read_shard(own))
        for path in sorted(self.directory.rglob(f"*{SHARD_SUFFIX}")):
            if path != own:
                for key, value in read_shard(path).items():
                    self._entries.setdefault(key, value)

    def _open(self) -> Any:
        """This job's shard, opened for appending once the first answer arrives."""
        assert self.shard_path is not None
        self.shard_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.shard_path, "ab")  # noqa: SIM115 (closed in close())
        end = handle.seek(0, os.SEEK_END)
        if end:
            with open(self.shard_path, "rb") as reader:
                data = reader.read()
            keep = data.rfind(b"\n") + 1
            if keep < len(data):  # an interrupted write left a fragment: cut it off before appending
                handle.truncate(keep)
        return handle

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: str, value: dict[str, Any]) -> None:
        line = json.dumps({"key": key, "value": value}, sort_keys=True, ensure_ascii=False) + "\n"
        with self._lock:
            self._entries[key] = value
            if self.shard_path is None:
                return
            if self._file is None:
                self._file = self._open()
            self._file.write(line.encode())
            self._file.flush()
            os.fsync(self._file.fileno())

    def __len__(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> JudgeCache:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
