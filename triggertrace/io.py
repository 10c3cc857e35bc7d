"""Deterministic, atomic file I/O: same rows in, same bytes out, no half-written artifacts."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triggertrace.errors import DatasetError


def canonical_json(obj: Any) -> str:
    """One-line JSON with sorted keys, so equal objects serialise to equal bytes."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def content_hash(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj``."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write via a temporary file and rename, so an interrupted job leaves no partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n")


def read_json(path: str | Path) -> Any:
    """A JSON file written by ``write_json`` (the stages' lineage, resume markers and metrics)."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(canonical_json(row) + "\n" for row in rows))


@dataclass(frozen=True)
class JsonlFile:
    """The rows of a JSONL file, each with its line in the file, and the sha256 of the bytes read."""

    path: str
    sha256: str
    rows: list[dict]
    lines: list[int]  # 1-based file line of each row; blank lines are skipped, never renumbered

    def numbered(self) -> list[tuple[int, dict]]:
        return list(zip(self.lines, self.rows, strict=True))


def read_jsonl_file(path: str | Path, required: Sequence[str] = ()) -> JsonlFile:
    """Read a JSONL file once; a bad line or a missing field raises naming file and line."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line_number = data[: error.start].count(b"\n") + 1
        raise DatasetError(f"{path}:{line_number}: not UTF-8 text") from None
    rows, lines = [], []
    # split on "\n" only: str.splitlines would also split inside JSON strings at U+2028 and
    # friends, and the numbers must be the lines an editor shows
    for line_number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DatasetError(f"{path}:{line_number}: not valid JSON ({error.msg})") from None
        if not isinstance(row, dict):
            raise DatasetError(f"{path}:{line_number}: expected a JSON object")
        missing = [field for field in required if field not in row]
        if missing:
            raise DatasetError(f"{path}:{line_number}: missing field(s) {', '.join(map(repr, missing))}")
        rows.append(row)
        lines.append(line_number)
    return JsonlFile(str(path), hashlib.sha256(data).hexdigest(), rows, lines)


def read_jsonl(path: str | Path, required: Sequence[str] = ()) -> list[dict]:
    """The rows of a JSONL file (see ``read_jsonl_file``)."""
    return read_jsonl_file(path, required).rows
