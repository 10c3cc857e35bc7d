"""Logging for pipeline scripts: to the rule's ``log:`` file and to stderr.

``script_logger`` also decides what a failing job leaves behind: its log file gets the full
traceback and message, and stderr (the terminal, or the SLURM job's output) one line,
``error: <message> (traceback in <log file>)``. Without it the traceback went only to stderr, where
it drowned among other jobs' output, and the log file, the place a user looks, stayed empty.
"""

from __future__ import annotations

import logging
import sys
from types import TracebackType

from triggertrace.errors import TriggertraceError

FORMAT = "%(asctime)s %(levelname)s %(message)s"


def failure_message(error: BaseException) -> str:
    """One line for the terminal: an input error's own message (it names the key, file or row),
    otherwise the exception's type and the first line of its message."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    text = str(error).strip()
    first_line = text.splitlines()[0] if text else ""
    if isinstance(error, TriggertraceError):
        return first_line
    return f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__


def install_failure_hook(log_file: logging.Handler, log_path: str) -> None:
    """On an uncaught exception: the traceback to ``log_file`` only, one line to stderr."""

    def hook(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        message = failure_message(error)
        record = logging.LogRecord("failure", logging.ERROR, __file__, 0, message, None, (kind, error, trace))
        log_file.handle(record)
        log_file.flush()
        print(f"error: {message} (traceback in {log_path})", file=sys.stderr, flush=True)

    sys.excepthook = hook


def script_logger(name: str, log_path: str) -> logging.Logger:
    """A logger writing to ``log_path`` (truncated) and stderr; installs the failure hook."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    formatter = logging.Formatter(FORMAT)
    log_file = logging.FileHandler(log_path, mode="w", encoding="utf-8")
    for handler in (log_file, logging.StreamHandler(sys.stderr)):
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    install_failure_hook(log_file, log_path)
    return logger
