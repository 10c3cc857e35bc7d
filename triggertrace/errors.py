"""Errors that name what the user must fix: a config key, a dataset file and line, a model entry.

Where they surface:
- while Snakemake builds the DAG (config checks in ``rules/common.smk``), ``input_errors_stop_here``
  turns them (schema violations are ConfigErrors too) into one line (``config error: <key path>: ...``) and exits
  before any job runs, without a traceback;
- inside a job, the hook of ``triggertrace.logs.script_logger`` writes the traceback to the
  rule's log file and prints one line to stderr.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager


class TriggertraceError(Exception):
    """Base class: an input problem the user can fix; the message alone says what and where."""


class ConfigError(TriggertraceError):
    """A config value is missing or inconsistent; the message starts with the key path."""


class DatasetError(TriggertraceError):
    """A dataset row is malformed; the message starts with the file and line."""


class ModelSourceError(TriggertraceError):
    """A model entry cannot be resolved; the message names the entry."""


class TrainingError(TriggertraceError):
    """Training cannot proceed as configured (e.g. no supervised tokens)."""


PREFIXES = {ConfigError: "config error", DatasetError: "data error"}


def key_path(path: Sequence[str | int]) -> str:
    """``["experiments", 0, "model"]`` -> ``experiments[0].model``, as ConfigError messages write keys."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def one_line(error: BaseException) -> str | None:
    """The line to stop with for an input error, or None for any other exception."""
    if isinstance(error, TriggertraceError):
        prefix = next((text for kind, text in PREFIXES.items() if isinstance(error, kind)), "error")
        return f"{prefix}: {error}"
    return None


@contextmanager
def input_errors_stop_here() -> Iterator[None]:
    """Exit with one line, and no traceback, on an input error raised in the block."""
    try:
        yield
    except Exception as error:
        line = one_line(error)
        if line is None:
            raise
        raise SystemExit(line) from None
