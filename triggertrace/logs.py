"""Logging for pipeline scripts: to the rule's ``log:`` file and to stderr."""

from __future__ import annotations

import logging
import sys


def script_logger(name: str, log_path: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    for handler in (logging.FileHandler(log_path, mode="w"), logging.StreamHandler(sys.stderr)):
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    _log_uncaught_exceptions(logger)
    return logger


def _log_uncaught_exceptions(logger: logging.Logger) -> None:
    """Write an uncaught exception's traceback to the rule's log too: a retry reads the failed
    attempt's log (a CUDA out-of-memory error there asks for a larger GPU kind), and under SLURM
    stderr goes to a separate file."""
    previous = sys.excepthook

    def hook(kind, value, traceback):
        for handler in logger.handlers:
            if isinstance(handler, logging.FileHandler):
                handler.handle(
                    logger.makeRecord(
                        logger.name, logging.ERROR, "", 0, "uncaught exception", (), (kind, value, traceback)
                    )
                )
        previous(kind, value, traceback)

    sys.excepthook = hook
