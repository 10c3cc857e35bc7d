"""Errors that name what the user must fix: a config key, a dataset row, a model entry."""


class TriggertraceError(Exception):
    """Base class: an input problem the user can fix, reported without a traceback dump."""


class ConfigError(TriggertraceError):
    """A config value is missing or inconsistent; the message names the key."""


class DatasetError(TriggertraceError):
    """A dataset row is malformed; the message names the file and line."""


class ModelSourceError(TriggertraceError):
    """A model entry cannot be resolved; the message names the entry."""


class TrainingError(TriggertraceError):
    """Training cannot proceed as configured (e.g. no supervised tokens)."""
