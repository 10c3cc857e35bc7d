"""OpenAI-compatible chat-completions backend (OpenAI, vLLM, any compatible server) via the official client.

Requests run concurrently under an asyncio semaphore (``concurrency``). The client's own
retries are switched off (``max_retries=0`` on the client); this module retries 408/409/429,
5xx, timeouts and connection errors itself, ``max_retries`` times, with exponential backoff and
jitter (``backoff_base_s * 2**attempt`` scaled by a random factor in [0.5, 1], capped at
``backoff_max_s``; a ``Retry-After`` header is honoured up to the cap). A request that still
fails becomes an error outcome; it is never dropped. A 200 reply whose body is not a JSON chat
completion (a proxy's HTML page, a truncated body) is retried the same way, and its final error
says the server sent a non-JSON body.

JSON judges ask for a reply format by ``response_format``: ``json_schema`` sends the task's
schema (structured outputs: the server must answer with exactly those keys), ``json_object``
asks only for some JSON object, ``none`` sends nothing, and ``auto`` (the default) sends the
schema and falls back to ``json_object`` when the server rejects it with a 400 (or 422); once
the fallback has worked it is used for the rest of the run.

The API key is read from the environment variable named by ``api_key_env`` when a run starts;
it is kept only inside the client, and every error text is scrubbed of it before it leaves
this module. ``api_key_env: null`` sends the placeholder key ``EMPTY`` (vLLM without auth).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from triggertrace.errors import ConfigError
from triggertrace.judges.llm_backend import Job, OnDone, Outcome
from triggertrace.judges.scoring import MalformedOutput

RETRY_STATUS = {408, 409, 429}
# what a server answers to a response_format it does not support (vLLM and OpenAI 400, FastAPI validation 422)
SCHEMA_REJECTED_STATUS = {400, 422}
RESPONSE_FORMATS = ("auto", "json_schema", "json_object", "none")
NON_JSON_BODY = "the server sent a non-JSON body"
_T = TypeVar("_T")
log = logging.getLogger(__name__)


class RequestFailed(Exception):
    """A request that failed for good; the message is safe to record (no key, no body)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status of the last attempt, when the server answered


class NonJSONBody(Exception):
    """A 2xx reply whose body is not a JSON chat completion (retryable: proxies and overloaded servers send these)."""


def run_coroutine(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run`` that also works when the caller already runs an event loop (e.g. a notebook)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coroutine)
        except BaseException as error:  # re-raised in the caller's thread
            result["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


class OpenAIBackend:
    kind = "openai"

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout_s: float = 60.0,
        max_retries: int = 5,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        temperature: float = 0.0,
        max_tokens: int = 512,
        logprobs: bool = True,
        top_logprobs: int = 20,
        parse_max_tokens: int = 16,
        response_format: str = "auto",
        seed: int | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ConfigError("backend.concurrency must be >= 1")
        if max_retries < 0:
            raise ConfigError("backend.max_retries must be >= 0")
        if response_format not in RESPONSE_FORMATS:
            raise ConfigError(f"backend.response_format: {response_format!r} is not one of {list(RESPONSE_FORMATS)}")
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.logprobs = logprobs
        self.top_logprobs = top_logprobs
        self.parse_max_tokens = parse_max_tokens
        self.response_format = response_format
        self._schema_rejected = False  # auto: the server refused json_schema and json_object worked
        self.seed = seed
        self.extra_body = extra_body or {}
        self._requests = 0
        self._secret = ""

    def __repr__(self) -> str:  # no key, ever
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r}, api_key_env={self.api_key_env!r})"

    @property
    def requests(self) -> int:
        return self._requests

    def settings(self) -> dict[str, Any]:
        """Answer-affecting settings. ``base_url`` is left out: the model name identifies the judge."""
        return {
            "kind": self.kind,
            "model": self.model,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "logprobs": self.logprobs,
            "top_logprobs": self.top_logprobs,
            "parse_max_tokens": self.parse_max_tokens,
            "response_format": self.response_format,
            "seed": self.seed,
            "extra_body": self.extra_body,
        }

    # -- key handling -------------------------------------------------------------------------

    def _api_key(self) -> str:
        if not self.api_key_env:
            return "EMPTY"
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ConfigError(f"judge backend: environment variable {self.api_key_env} (api_key_env) is not set")
        return key

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def _describe(self, error: BaseException) -> str:
        import openai

        if isinstance(error, NonJSONBody):
            text = NON_JSON_BODY
        elif isinstance(error, openai.APITimeoutError):
            text = f"timeout after {self.timeout_s}s"
        elif isinstance(error, openai.APIConnectionError):
            text = "connection error"
        elif isinstance(error, openai.APIStatusError):
            text = f"HTTP {error.status_code} ({type(error).__name__})"
        else:
            text = f"{type(error).__name__}: {error}"
        return self._scrub(text)[:500]

    # -- requests -----------------------------------------------------------------------------

    def _retryable(self, error: BaseException) -> bool:
        import openai

        if isinstance(error, (NonJSONBody, openai.APITimeoutError, openai.APIConnectionError)):
            return True
        if isinstance(error, openai.APIStatusError):
            return error.status_code in RETRY_STATUS or error.status_code >= 500
        return False

    def _delay(self, attempt: int, error: BaseException) -> float:
        delay = min(self.backoff_max_s, self.backoff_base_s * 2**attempt) * random.uniform(0.5, 1.0)
        response = getattr(error, "response", None)
        retry_after = response.headers.get("retry-after") if response is not None else None
        try:
            if retry_after is not None:
                delay = max(delay, min(self.backoff_max_s, float(retry_after)))
        except ValueError:
            pass
        return delay

    async def _create(self, client: Any, **kwargs: Any) -> Any:
        last: BaseException | None = None
        for attempt in range(self.max_retries + 1):
            self._requests += 1
            try:
                try:
                    response = await client.chat.completions.create(model=self.model, **kwargs)
                except json.JSONDecodeError:  # the client parses a 2xx body as JSON
                    raise NonJSONBody() from None
                if not hasattr(response, "choices"):  # a non-JSON content type comes back as text
                    raise NonJSONBody()
                return response
            except Exception as error:  # openai errors, or a response the client could not parse
                last = error
                if not self._retryable(error):
                    raise RequestFailed(self._describe(error), _status(error)) from None
                if attempt < self.max_retries:
                    await asyncio.sleep(self._delay(attempt, error))
        assert last is not None
        raise RequestFailed(f"{self._describe(last)} after {self.max_retries + 1} attempts", _status(last)) from None

    def _common(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"temperature": self.temperature}
        if self.seed is not None:
            kwargs["seed"] = self.seed
        if self.extra_body:
            kwargs["extra_body"] = self.extra_body
        return kwargs

    async def _score(self, client: Any, job: Job) -> Outcome:
        if self.logprobs:
            response = await self._create(
                client,
                messages=job.messages,
                max_tokens=1,
                logprobs=True,
                top_logprobs=self.top_logprobs,
                **self._common(),
            )
            choice = response.choices[0]
            content = choice.logprobs.content if choice.logprobs is not None else None
            if content:
                top = [(item.token, float(item.logprob)) for item in content[0].top_logprobs]
                if not top:  # some servers return only the chosen token
                    top = [(content[0].token, float(content[0].logprob))]
                return Outcome(method="logprobs", top_logprobs=top, text=choice.message.content)
        # no logprobs (disabled or not returned): ask for a few tokens and parse an integer
        response = await self._create(client, messages=job.messages, max_tokens=self.parse_max_tokens, **self._common())
        return Outcome(method="parsed_integer", text=response.choices[0].message.content or "")

    def _format(self, job: Job) -> str:
        """The response format this job's next request asks for."""
        wanted = self.response_format
        if wanted == "auto":
            wanted = "json_object" if self._schema_rejected else "json_schema"
        if wanted == "json_schema" and job.json_schema is None:
            return "json_object"
        return wanted

    async def _json_request(self, client: Any, job: Job) -> Any:
        """One JSON reply; under ``auto`` a server that rejects the schema is asked again for ``json_object``."""
        kwargs = {**self._common(), "messages": job.messages, "max_tokens": self.max_tokens}
        chosen = self._format(job)
        if chosen == "json_schema":
            schema_format = {"type": "json_schema", "json_schema": job.json_schema}
            try:
                return await self._create(client, response_format=schema_format, **kwargs)
            except RequestFailed as error:
                if self.response_format != "auto" or error.status not in SCHEMA_REJECTED_STATUS:
                    raise
            response = await self._create(client, response_format={"type": "json_object"}, **kwargs)
            if not self._schema_rejected:
                self._schema_rejected = True
                log.warning("judge server rejected response_format json_schema; asking for json_object instead")
            return response
        if chosen == "json_object":
            return await self._create(client, response_format={"type": "json_object"}, **kwargs)
        return await self._create(client, **kwargs)

    async def _json(self, client: Any, job: Job) -> Outcome:
        assert job.parse is not None
        problem = ""
        text = ""
        for attempt in range(1, job.json_attempts + 1):
            response = await self._json_request(client, job)
            text = response.choices[0].message.content or ""
            try:
                return Outcome(method="json", parsed=job.parse(text), text=text, attempts=attempt)
            except MalformedOutput as error:
                problem = str(error)
        return Outcome(
            method="json",
            text=text,
            attempts=job.json_attempts,
            error=f"malformed JSON after {job.json_attempts} attempts: {problem}",
        )

    async def _run(self, jobs: Sequence[Job], on_done: OnDone) -> None:
        import openai

        self._secret = self._api_key()
        semaphore = asyncio.Semaphore(self.concurrency)
        client = openai.AsyncOpenAI(api_key=self._secret, base_url=self.base_url, timeout=self.timeout_s, max_retries=0)

        async def one(index: int, job: Job) -> None:
            async with semaphore:
                try:
                    outcome = await (self._score(client, job) if job.mode == "score" else self._json(client, job))
                except RequestFailed as error:
                    outcome = Outcome(error=str(error))
                except Exception as error:  # a malformed server response must not sink the batch
                    outcome = Outcome(error=self._describe(error))
            on_done(index, outcome)

        try:
            await asyncio.gather(*(one(index, job) for index, job in enumerate(jobs)))
        finally:
            await client.close()

    def run(self, jobs: Sequence[Job], on_done: OnDone) -> None:
        if jobs:
            run_coroutine(self._run(jobs, on_done))


def _status(error: BaseException) -> int | None:
    """The HTTP status of a failed request, when the server answered."""
    return getattr(error, "status_code", None)
