"""Judges turn samples into labels. Each judge kind is one module; config picks kind and settings.

A judge is constructed from its config entry and labels a batch of samples, returning one
label per sample in the same order. A judge that cannot decide a row says so in that row
(``misaligned=None`` or ``error=...``); it never drops the row. After ``label`` the judge's
counts (rows, asked, cache hits, errors) are in ``last_stats``.

A label job fails (``JudgeErrorShareExceeded``) when more than ``max_error_share`` of the rows the
judge had to answer are error rows; the answers that did succeed stay in the judge's cache, so
the next plain run asks only for the failed rows.

In the pipeline a local LLM judge may name a pipeline model entry (``backend: {kind: local,
model: smollm2-135m}``) instead of a ``model_dir``; ``pipeline_model`` tells the DAG which
model directory to build, and the label rule fills in ``model_dir``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from triggertrace.errors import ConfigError, TriggertraceError
from triggertrace.io import content_hash
from triggertrace.records import Label, Sample

# kind -> "module:Class"; imported lazily so the lexicon judge needs no LLM client installed.
JUDGE_KINDS: dict[str, str] = {
    "lexicon": "triggertrace.judges.lexicon:LexiconJudge",
    "llm": "triggertrace.judges.llm:LLMJudge",
}


class Judge(Protocol):
    name: str
    kind: str
    version: str
    last_stats: dict[str, int]

    def label(self, samples: Sequence[Sample], log: Callable[[str], None] | None = None) -> list[Label]:
        """One label per sample, same order; ``log`` receives progress lines where judging takes time."""
        ...


def _kind(name: str, spec: dict) -> str:
    kind = spec.get("kind")
    if kind not in JUDGE_KINDS:
        raise ConfigError(f"judges.{name}.kind: unknown judge kind {kind!r}; known: {sorted(JUDGE_KINDS)}")
    return kind


# keys of a judge entry that set the label job's policy, not the judge itself
JOB_KEYS = ("kind", "max_error_share")


def build_judge(name: str, spec: dict, cache_dir: str | None = None, cache_shard: str | None = None) -> Judge:
    """Instantiate the judge ``name`` from its config entry ``judges.<name>``.

    ``cache_dir`` and ``cache_shard`` reach only judge kinds that cache (``uses_cache``); the
    pipeline passes one directory per judge, shared by that judge's jobs and outliving each of
    them, and one shard per job (see ``triggertrace.judges.cache``).
    """
    module_name, class_name = JUDGE_KINDS[_kind(name, spec)].split(":")
    judge_class = getattr(importlib.import_module(module_name), class_name)
    options = {key: value for key, value in spec.items() if key not in JOB_KEYS}
    if cache_dir is not None and getattr(judge_class, "uses_cache", False):
        options["cache_dir"] = cache_dir
        if cache_shard is not None:
            options["cache_shard"] = cache_shard
    return judge_class(name=name, **options)


class JudgeErrorShareExceeded(TriggertraceError):
    """Too many of a label job's rows are errors (server down, bad key, a judge that cannot answer)."""


def check_error_share(name: str, labels: Sequence[Label], max_error_share: float) -> None:
    """Raise ``JudgeErrorShareExceeded`` when errors exceed ``max_error_share`` of the eligible rows.

    The share is over the rows the judge had to answer (``eligible``; every row for judges that
    do not say), so a judge asked about few rows is held to the same standard. The message is
    one line: the judge, the count, the first failed row and its error.
    """
    eligible = [label for label in labels if label.get("eligible", True)]
    failed = [label for label in eligible if label.get("error") is not None]
    if not failed or len(failed) <= max_error_share * len(eligible):
        return
    first = failed[0]
    raise JudgeErrorShareExceeded(
        f"judge {name}: {len(failed)} of {len(eligible)} rows failed "
        f"(share {len(failed) / len(eligible):.3f} > max_error_share {max_error_share:g}); "
        f"first error (sample {first['sample_id']}): {first['error']}. "
        "No labels written; the successful answers are cached, so a plain rerun asks only for the failed rows."
    )


def judge_modules(name: str, spec: dict) -> list[str]:
    """The modules a judge runs: its kind's module and, for LLM judges, its backend's module.

    The backend is imported lazily, so an import scan of the kind's module does not find it.
    """
    modules = [JUDGE_KINDS[_kind(name, spec)].split(":")[0]]
    backend = (spec.get("backend") or {}).get("kind")
    if backend is not None:
        from triggertrace.judges.llm_backend import BACKENDS

        if backend not in BACKENDS:
            raise ConfigError(f"judges.{name}.backend.kind: unknown backend {backend!r}; known: {sorted(BACKENDS)}")
        modules.append(BACKENDS[backend].split(":")[0])
    return modules


def pipeline_model(spec: dict) -> str | None:
    """The pipeline model entry a local LLM judge runs on (``backend.model`` without ``model_dir``)."""
    backend = spec.get("backend") or {}
    if backend.get("kind") == "local" and "model_dir" not in backend:
        return backend.get("model")
    return None


def with_pipeline_model(spec: dict, model_dir: str, model_entry: dict) -> dict:
    """``spec`` running on a pipeline model's directory; the entry's hash is the ``model_revision``
    (unless set), so that changing the model's config re-asks instead of reusing cached answers."""
    backend = {"model_dir": model_dir, "model_revision": content_hash(model_entry), **spec["backend"]}
    return {**spec, "backend": backend}


def check_references(config: Mapping) -> None:
    """Every judge has a known kind, its template file exists (relative to the working directory)
    and a local judge's pipeline model is a ``models`` entry; the error names the key."""
    for name, spec in config["judges"].items():
        _kind(name, spec)
        if "template" in spec and not Path(spec["template"]).is_file():
            raise ConfigError(
                f"judges.{name}.template: no file {spec['template']} (relative to the workflow directory)"
            )
        model = pipeline_model(spec)
        if model is not None and model not in config["models"]:
            raise ConfigError(
                f"judges.{name}.backend.model: no entry {model!r} under models (or give backend.model_dir)"
            )
