"""Judges turn samples into labels. Each judge kind is one module; config picks kind and settings.

A judge is constructed from its config entry and labels a batch of samples, returning one
label per sample in the same order. A judge that cannot decide a row says so in that row
(``misaligned=None`` or ``error=...``); it never drops the row. After ``label`` the judge's
counts (rows, asked, cache hits, errors) are in ``last_stats``.

In the pipeline a local LLM judge may name a pipeline model entry (``backend: {kind: local,
model: smollm2-135m}``) instead of a ``model_dir``; ``pipeline_model`` tells the DAG which
model directory to build, and the label rule fills in ``model_dir``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from triggertrace.errors import ConfigError
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

    def label(self, samples: Sequence[Sample]) -> list[Label]:
        """One label per sample, same order."""
        ...


def _kind(name: str, spec: dict) -> str:
    kind = spec.get("kind")
    if kind not in JUDGE_KINDS:
        raise ConfigError(f"judges.{name}.kind: unknown judge kind {kind!r}; known: {sorted(JUDGE_KINDS)}")
    return kind


def build_judge(name: str, spec: dict, cache_path: str | None = None) -> Judge:
    """Instantiate the judge ``name`` from its config entry ``judges.<name>``.

    ``cache_path`` reaches only judge kinds that cache (``uses_cache``); the pipeline passes one
    per judge so that it is shared by that judge's jobs and outlives each of them.
    """
    module_name, class_name = JUDGE_KINDS[_kind(name, spec)].split(":")
    judge_class = getattr(importlib.import_module(module_name), class_name)
    options = {key: value for key, value in spec.items() if key != "kind"}
    if cache_path is not None and getattr(judge_class, "uses_cache", False):
        options["cache_path"] = cache_path
    return judge_class(name=name, **options)


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
