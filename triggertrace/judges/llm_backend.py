"""What an LLM-judge backend receives and returns, shared by the OpenAI-compatible and local backends.

A backend gets a list of ``Job``s (chat messages plus a mode) and reports each ``Outcome``
through a callback as soon as it is known, so the judge can commit it to the cache before the
next one finishes. A backend never raises for one bad row: it reports ``Outcome(error=...)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from triggertrace.errors import ConfigError

Mode = Literal["score", "json"]
# backend kind -> "module:Class"; imported lazily so the OpenAI client is needed only when used.
BACKENDS: dict[str, str] = {
    "openai": "triggertrace.judges.llm_openai:OpenAIBackend",
    "local": "triggertrace.judges.llm_local:LocalBackend",
}


@dataclass
class Job:
    messages: list[dict[str, str]]
    mode: Mode
    # json mode: turns the reply text into label fields, raising scoring.MalformedOutput to retry
    parse: Callable[[str], dict[str, Any]] | None = None
    json_attempts: int = 3  # 1 + retries for malformed JSON
    # json mode: the reply's ``json_schema`` response format (scoring.reply_schema), for servers with structured outputs
    json_schema: dict[str, Any] | None = None


@dataclass
class Outcome:
    method: str | None = None  # "logprobs" | "parsed_integer" | "json"
    top_logprobs: list[tuple[str, float]] | None = None  # first answer token's top-k alternatives
    integer_logprobs: dict[int, float] | None = None  # local sequence scoring: log P(answer == n)
    text: str | None = None
    parsed: dict[str, Any] | None = None
    error: str | None = None
    attempts: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


OnDone = Callable[[int, Outcome], None]


class Backend(Protocol):
    kind: str
    model: str

    def settings(self) -> dict[str, Any]:
        """Settings that change answers (they enter the cache key)."""
        ...

    def run(self, jobs: Sequence[Job], on_done: OnDone) -> None:
        """Answer every job, calling ``on_done(index, outcome)`` once per job."""
        ...

    @property
    def requests(self) -> int:
        """Requests (HTTP calls or forward batches) issued so far."""
        ...


def build_backend(judge: str, block: dict[str, Any]) -> Backend:
    """Backend from a judge's ``backend:`` block; unknown keys are config errors naming the key."""
    if not isinstance(block, dict) or "kind" not in block:
        raise ConfigError(f"judges.{judge}.backend: needs a mapping with 'kind' (openai | local)")
    options = {key: value for key, value in block.items() if key != "kind"}
    if block["kind"] not in BACKENDS:
        raise ConfigError(f"judges.{judge}.backend.kind: unknown backend {block['kind']!r}; known: {sorted(BACKENDS)}")
    module_name, class_name = BACKENDS[block["kind"]].split(":")
    backend_class = getattr(importlib.import_module(module_name), class_name)
    try:
        return backend_class(**options)
    except TypeError as error:
        raise ConfigError(f"judges.{judge}.backend: {error}") from None
