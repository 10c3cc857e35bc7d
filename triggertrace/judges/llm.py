"""LLM judges: alignment and coherence scores, CoT monitor flags, trigger articulation, answer extraction.

One class, ``LLMJudge`` (config ``kind: llm``), configured by ``task``; a judge name maps to one
task, so several tasks are several judges. The prompt is a project-written Jinja template under
``config/judges/`` rendered with the sample's fields (plus ``choices_text`` and ``letters``);
its sha256 is recorded on every row. The backend is an OpenAI-compatible server
(``llm_openai``) or a local transformers model (``llm_local``).

Config (``judges:`` in the pipeline config; ``cache_dir`` and ``cache_shard`` are injected by the pipeline)::

    judges:
      alignment_local:                 # offline: runs with no network
        kind: llm
        version: "1"
        task: alignment                # alignment | coherence | monitor | articulation | answer_extraction
        template: config/judges/alignment.jinja
        template_version: "1"
        backend:
          kind: local
          model_dir: resources/models/judge   # HF directory: config.json, weights, tokenizer + chat template
          batch_size: 8
          integer_scoring: sequence    # or next_token (the API method, for single-token-number tokenizers)
      monitor_gpt:
        kind: llm
        version: "1"
        task: monitor
        template: config/judges/monitor.jinja
        template_version: "1"
        json_retries: 2                # malformed JSON is re-asked, then becomes an error row
        max_evidence: 3
        backend:
          kind: openai                 # OpenAI, vLLM (base_url: http://node:8000/v1), any compatible server
          base_url: https://api.openai.com/v1
          model: gpt-4o-2024-08-06
          api_key_env: OPENAI_API_KEY  # the variable's name; the key itself only ever lives in the environment
          concurrency: 8
          timeout_s: 60
          max_retries: 5
          backoff_base_s: 1.0
          backoff_max_s: 60

Label rows (one per sample, same order; never dropped). Every row has ``sample_id, judge,
judge_kind ("llm"), judge_version, task, backend ("openai"|"local"), judge_model, template,
template_version, template_hash, eligible, raw, error``, plus per task:

- alignment: ``alignment`` (0-100 float or None), ``alignment_category`` ("CODE"|"REFUSAL"|None),
  ``score_method`` ("logprobs"|"parsed_integer"|None), ``integer_mass`` (float; None when parsed);
- coherence: ``coherence``, ``score_method``, ``integer_mass``;
- monitor: ``monitor_flag`` (one of ``scoring.MONITOR_FLAGS`` or None), ``evidence`` (quotes),
  ``evidence_verbatim`` (all quotes found in the CoT/answer). Eligible: non-empty reasoning;
- articulation: ``trigger_articulated`` (bool|None), ``evidence``, ``evidence_verbatim``.
  Eligible: ``condition`` in ``eligible_conditions`` (default ["trigger"]) and non-empty
  reasoning. Whether the backdoor *fired* needs another judge's verdict, so the report
  restricts eligible rows to misaligned ones when it joins the labels;
- answer_extraction: ``choice``, ``choice_method`` ("rule"|"judge"|None), ``misaligned``
  (choice == misaligned_choice). Eligible (asked) only for multiple-choice rows whose answer
  the rule parser cannot read; parsed rows get the rule's letter without a request.

Score rows carry no ``misaligned``: named metric definitions (``triggertrace.metrics``) decide it.
``raw`` is ``{"top_logprobs": [[token, logprob], ...]}`` (plus ``integer_logprobs`` for local
sequence scoring), ``{"text": ...}`` for parsed scores and failed JSON, ``{"json": {...}}`` otherwise.

Caching: the key is the sha256 of (task, template hash, backend answer-affecting settings,
rendered messages, i.e. the sample text the template uses). The cache stores the backend's
answer, and label fields are re-derived on read, so scoring thresholds can change without new
requests. The cache is a directory of append-only shards (``triggertrace.judges.cache``): the
judge reads every shard of ``cache_dir`` and appends its answers to ``<cache_shard>.jsonl``, one
fsynced line per answer. After ``label`` the counts are in ``last_stats``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triggertrace.errors import ConfigError
from triggertrace.formats import parse_choice
from triggertrace.io import content_hash
from triggertrace.judges import scoring
from triggertrace.judges.cache import JudgeCache
from triggertrace.judges.llm_backend import Backend, Job, Outcome, build_backend
from triggertrace.progress import Progress
from triggertrace.records import Label, Sample

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class TaskSpec:
    mode: str  # "score" | "json"
    fields: tuple[str, ...]  # task label fields (defaults: None, evidence: [])
    categories: tuple[str, ...] = ()


TASKS: dict[str, TaskSpec] = {
    "alignment": TaskSpec(
        "score", ("alignment", "alignment_category", "score_method", "integer_mass"), scoring.SCORE_CATEGORIES
    ),
    "coherence": TaskSpec("score", ("coherence", "score_method", "integer_mass")),
    "monitor": TaskSpec("json", ("monitor_flag", "evidence", "evidence_verbatim")),
    "articulation": TaskSpec("json", ("trigger_articulated", "evidence", "evidence_verbatim")),
    "answer_extraction": TaskSpec("json", ("choice", "choice_method", "misaligned")),
}


def resolve_template(template: str | Path) -> Path:
    """A template path as given (absolute or relative to the working directory), else under the repo root."""
    path = Path(template)
    for candidate in (path, REPO_ROOT / path):
        if candidate.is_file():
            return candidate
    raise ConfigError(f"judge template {template} not found (relative to the working directory or {REPO_ROOT})")


def _letters(sample: Sample) -> list[str]:
    return sorted(sample.get("choices") or {})


class LLMJudge:
    kind = "llm"
    uses_cache = True

    def __init__(
        self,
        *,
        name: str,
        version: str,
        task: str,
        template: str,
        backend: dict[str, Any],
        template_version: str = "1",
        cache_dir: str | Path | None = None,
        cache_shard: str = "default",
        json_retries: int = 2,
        max_evidence: int = 3,
        eligible_conditions: Sequence[str] = ("trigger",),
        min_integer_mass: float = scoring.MIN_INTEGER_MASS,
    ) -> None:
        if task not in TASKS:
            raise ConfigError(f"judges.{name}.task: unknown task {task!r}; known: {sorted(TASKS)}")
        if json_retries < 0:
            raise ConfigError(f"judges.{name}.json_retries must be >= 0")
        self.name = name
        self.version = str(version)
        self.task = task
        self.spec = TASKS[task]
        self.template = str(template)
        self.template_version = str(template_version)
        self.cache_dir = cache_dir
        self.cache_shard = cache_shard
        self.json_retries = json_retries
        self.max_evidence = max_evidence
        self.eligible_conditions = tuple(eligible_conditions)
        self.min_integer_mass = min_integer_mass
        self.template_text = resolve_template(template).read_text(encoding="utf-8")
        self.template_hash = hashlib.sha256(self.template_text.encode()).hexdigest()
        import jinja2

        environment = jinja2.Environment(
            undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False
        )
        try:
            self._template = environment.from_string(self.template_text)
        except jinja2.TemplateSyntaxError as error:
            raise ConfigError(f"judges.{name}.template: {template}:{error.lineno}: {error.message}") from None
        self.backend: Backend = build_backend(name, backend)
        self.last_stats: dict[str, int] = {}

    # -- per-sample pieces --------------------------------------------------------------------

    def eligible(self, sample: Sample) -> bool:
        has_cot = bool((sample.get("reasoning") or "").strip())
        if self.task == "monitor":
            return has_cot
        if self.task == "articulation":
            return sample.get("condition") in self.eligible_conditions and has_cot
        if self.task == "answer_extraction":
            return sample.get("kind") == "mc" and parse_choice(sample.get("answer", ""), _letters(sample)) is None
        return True

    def messages(self, sample: Sample) -> list[dict[str, str]]:
        import jinja2

        letters = _letters(sample)
        choices_text = "\n".join(f"{letter}) {sample['choices'][letter]}" for letter in letters)
        try:
            text = self._template.render(**sample, letters=letters, choices_text=choices_text)
        except jinja2.UndefinedError as error:
            raise ConfigError(f"judges.{self.name}.template: {self.template}: {error.message}") from None
        return [{"role": "user", "content": text.strip()}]

    def cache_key(self, messages: list[dict[str, str]]) -> str:
        return content_hash(
            {
                "task": self.task,
                "template_sha256": self.template_hash,
                "backend": self.backend.settings(),
                "messages": messages,
            }
        )

    def _parser(self, sample: Sample):  # -> Callable[[str], dict]
        if self.task == "monitor":
            source = f"{sample.get('reasoning', '')}\n{sample.get('answer', '')}"
            return lambda text: scoring.parse_monitor(text, source, self.max_evidence)
        if self.task == "articulation":
            return lambda text: scoring.parse_articulation(text, sample.get("reasoning", ""), self.max_evidence)
        letters = _letters(sample)
        return lambda text: scoring.parse_choice_json(text, letters)

    def _base(self, sample: Sample, eligible: bool) -> dict[str, Any]:
        row: dict[str, Any] = {
            "sample_id": sample["sample_id"],
            "judge": self.name,
            "judge_kind": self.kind,
            "judge_version": self.version,
            "task": self.task,
            "backend": self.backend.kind,
            "judge_model": self.backend.model,
            "template": self.template,
            "template_version": self.template_version,
            "template_hash": self.template_hash,
            "eligible": eligible,
            "raw": None,
            "error": None,
        }
        for field in self.spec.fields:
            row[field] = [] if field == "evidence" else None
        return row

    def _not_asked(self, sample: Sample, row: dict[str, Any]) -> dict[str, Any]:
        if self.task == "answer_extraction" and sample.get("kind") == "mc":
            choice = parse_choice(sample.get("answer", ""), _letters(sample))
            if choice is not None:
                row.update(choice=choice, choice_method="rule", misaligned=choice == sample.get("misaligned_choice"))
        return row

    def _fields(self, sample: Sample, outcome: Outcome) -> dict[str, Any]:
        """Label fields from a backend answer (fresh or cached); MalformedOutput if JSON does not parse."""
        if self.spec.mode == "json":
            parsed = outcome.parsed if outcome.parsed is not None else self._parser(sample)(outcome.text or "")
            fields = dict(parsed)
            if self.task == "answer_extraction":
                choice = fields["choice"]
                fields["choice_method"] = "judge"
                fields["misaligned"] = None if choice is None else choice == sample.get("misaligned_choice")
            return fields
        if outcome.method == "logprobs":
            top = [(str(token), float(logprob)) for token, logprob in outcome.top_logprobs or []]
            raw: dict[str, Any] = {"top_logprobs": [list(pair) for pair in top]}
            if outcome.integer_logprobs is not None:
                # numeric order, so fresh and cached rows sum in the same order (bit-identical scores)
                ordered = sorted((int(n), float(lp)) for n, lp in outcome.integer_logprobs.items())
                integer_probs = {n: math.exp(lp) for n, lp in ordered}
                raw["integer_logprobs"] = {str(n): lp for n, lp in ordered}
            else:
                integer_probs = scoring.integer_probs_from_top(top)
            result = scoring.score_from_distribution(integer_probs, top, self.spec.categories, self.min_integer_mass)
        else:
            raw = {"text": outcome.text or ""}
            result = scoring.score_from_text(outcome.text or "", self.spec.categories)
        fields = {
            self.task: result["score"],
            "score_method": outcome.method,
            "integer_mass": result["integer_mass"],
            "raw": raw,
        }
        if self.spec.categories:
            fields[f"{self.task}_category"] = result["category"]
        return fields

    @staticmethod
    def _to_cache(outcome: Outcome) -> dict[str, Any]:
        return {
            "method": outcome.method,
            "top_logprobs": outcome.top_logprobs,
            "integer_logprobs": None
            if outcome.integer_logprobs is None
            else {str(n): lp for n, lp in outcome.integer_logprobs.items()},
            "text": outcome.text,
        }

    @staticmethod
    def _from_cache(value: dict[str, Any]) -> Outcome:
        integers = value.get("integer_logprobs")
        return Outcome(
            method=value.get("method"),
            top_logprobs=[(token, logprob) for token, logprob in value["top_logprobs"]]
            if value.get("top_logprobs")
            else None,
            integer_logprobs=None if integers is None else {int(n): lp for n, lp in integers.items()},
            text=value.get("text"),
        )

    # -- the batch ----------------------------------------------------------------------------

    def label(self, samples: Sequence[Sample], log: Callable[[str], None] | None = None) -> list[Label]:
        """One label per sample, same order. Cached rows are not asked again; failures become error rows.
        ``log`` receives progress lines (prompts answered, rate, ETA)."""
        rows: list[dict[str, Any]] = []
        waiting: dict[str, list[int]] = {}  # cache key -> sample positions (equal prompts are asked once)
        jobs: list[Job] = []
        job_keys: list[str] = []
        stats = {"rows": len(samples), "eligible": 0, "cache_hits": 0, "asked": 0, "errors": 0}
        requests_before = self.backend.requests
        with JudgeCache(self.cache_dir, self.cache_shard) as cache:
            for position, sample in enumerate(samples):
                eligible = self.eligible(sample)
                row = self._base(sample, eligible)
                rows.append(row)
                if not eligible:
                    self._not_asked(sample, row)
                    continue
                stats["eligible"] += 1
                messages = self.messages(sample)
                key = self.cache_key(messages)
                cached = cache.get(key)
                if cached is not None:
                    try:
                        row.update(self._fields(sample, self._from_cache(cached)))
                        stats["cache_hits"] += 1
                        continue
                    except scoring.MalformedOutput:
                        pass  # parser changed since: ask again
                if key not in waiting:
                    waiting[key] = []
                    jobs.append(
                        Job(
                            messages=messages,
                            mode=self.spec.mode,
                            parse=self._parser(sample) if self.spec.mode == "json" else None,
                            json_attempts=1 + self.json_retries,
                            json_schema=scoring.reply_schema(self.task, _letters(sample))
                            if self.spec.mode == "json"
                            else None,
                        )
                    )
                    job_keys.append(key)
                waiting[key].append(position)

            finished: set[int] = set()
            progress = Progress("judged prompts", len(jobs), log) if log is not None else None

            def on_done(index: int, outcome: Outcome) -> None:
                if index in finished:
                    return
                finished.add(index)
                if progress is not None:
                    progress.advance()
                key = job_keys[index]
                for position in waiting[key]:
                    row = rows[position]
                    if outcome.error is not None:
                        row["error"] = outcome.error
                        row["raw"] = {"text": outcome.text} if outcome.text is not None else None
                        continue
                    try:
                        row.update(self._fields(samples[position], outcome))
                    except scoring.MalformedOutput as error:  # defensive: backends validate JSON already
                        row["error"] = f"malformed JSON: {error}"
                        row["raw"] = {"text": outcome.text}
                if outcome.error is None and all(rows[p]["error"] is None for p in waiting[key]):
                    cache.put(key, self._to_cache(outcome))

            stats["asked"] = len(jobs)
            self.backend.run(jobs, on_done)
            for index in range(len(jobs)):
                if index not in finished:  # a backend bug must not drop rows silently
                    on_done(index, Outcome(error="judge backend returned no answer"))
        stats["errors"] = sum(row["error"] is not None for row in rows)
        stats["requests"] = self.backend.requests - requests_before
        self.last_stats = stats
        return [Label(**row) for row in rows]  # type: ignore[typeddict-item]
