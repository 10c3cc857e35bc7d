"""Local transformers model as judge (a tiny model in tests, a Qwen judge on a GPU node), batched.

Score jobs read the model's distribution over the first answer token, like the API method.
``integer_scoring`` picks how integers are read from it:

- ``next_token``: exactly the API method: the top ``top_logprobs`` first tokens, integer tokens
  weighted. Right for tokenizers that spell 0-100 as single tokens.
- ``sequence`` (default): exact answer probabilities for "0".."100" under tokenizers that split
  numbers into digits (Qwen, SmolLM). ``P("37") = P("3") P("7" | "3")``, times the probability of
  stopping (no further digit) where the string could continue into another candidate
  (``"3"`` vs ``"37"``, ``"10"`` vs ``"100"``). All prefixes are scored in one padded batch.

Both feed the same weighted mean and 0.25-mass cut-off (``scoring.weighted_score``). JSON jobs
generate greedily; a malformed reply is retried with sampling (``retry_temperature``, seeded).

Weights load through ``models.load_causal_lm`` in ``dtype`` (``auto``: bf16 on CUDA and on CPUs
with native bf16, fp32 elsewhere, as a model entry's ``runtime.dtype``).

Cache keys include ``dtype``, ``model_dir`` and ``model_revision``; replacing weights in place needs a new
``model_revision`` (or judge version) to re-judge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from triggertrace.errors import ConfigError
from triggertrace.judges.llm_backend import Job, OnDone, Outcome
from triggertrace.judges.scoring import MalformedOutput
from triggertrace.models import DTYPES

INTEGER_SCORING = ("sequence", "next_token")
LOGPROB_FLOOR = -9999.0  # what the API reports for "very unlikely"; keeps the raw dict JSON-safe


class LocalBackend:
    kind = "local"

    def __init__(
        self,
        *,
        model_dir: str,
        model: str | None = None,
        model_revision: str | None = None,
        batch_size: int = 8,
        device: str = "auto",
        dtype: str = "auto",
        integer_scoring: str = "sequence",
        top_logprobs: int = 20,
        max_tokens: int = 512,
        temperature: float = 0.0,
        retry_temperature: float = 0.7,
        seed: int = 0,
        chat_template_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if integer_scoring not in INTEGER_SCORING:
            raise ConfigError(f"backend.integer_scoring: {integer_scoring!r} is not one of {INTEGER_SCORING}")
        if batch_size < 1:
            raise ConfigError("backend.batch_size must be >= 1")
        if dtype not in DTYPES:
            raise ConfigError(f"backend.dtype: {dtype!r} is not one of {', '.join(DTYPES)}")
        self.model_dir = str(model_dir)
        self.model = model or Path(self.model_dir).name
        self.model_revision = model_revision
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype
        self.integer_scoring = integer_scoring
        self.top_logprobs = top_logprobs
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.retry_temperature = retry_temperature
        self.seed = seed
        self.chat_template_kwargs = chat_template_kwargs or {}
        self._requests = 0
        self._loaded: tuple[Any, Any] | None = None

    @property
    def requests(self) -> int:
        return self._requests

    def settings(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model,
            "model_dir": self.model_dir,
            "model_revision": self.model_revision,
            "dtype": self.dtype,
            "integer_scoring": self.integer_scoring,
            "top_logprobs": self.top_logprobs,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "retry_temperature": self.retry_temperature,
            "seed": self.seed,
            "chat_template_kwargs": self.chat_template_kwargs,
        }

    # -- model --------------------------------------------------------------------------------

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            from triggertrace.models import load_causal_lm, load_tokenizer, pick_device

            if not Path(self.model_dir).is_dir():
                raise ConfigError(f"judge backend.model_dir: {self.model_dir} is not a directory")
            tokenizer = load_tokenizer(self.model_dir, padding_side="left")
            device = self.device if self.device != "auto" else pick_device()
            runtime = {"load_in_4bit": False, "gradient_checkpointing": False, "dtype": self.dtype}
            model = load_causal_lm(self.model_dir, runtime, device).eval()
            self._loaded = (tokenizer, model)
            self._prepare_integers(tokenizer)
        return self._loaded

    def _prepare_integers(self, tokenizer: Any) -> None:
        """The token trie of "0".."100" and the ids of tokens that continue a number."""
        self._candidates = {n: tuple(tokenizer.encode(str(n), add_special_tokens=False)) for n in range(101)}
        sequences = set(self._candidates.values())
        proper_prefixes = {seq[:cut] for seq in sequences for cut in range(len(seq))}
        self._needs_stop = {seq for seq in sequences if seq in proper_prefixes}
        self._prefixes = sorted(proper_prefixes | self._needs_stop, key=lambda seq: (len(seq), seq))
        tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        self._digit_ids = [index for index, token in enumerate(tokens) if token and token[0].isdigit()]

    def _prompt_ids(self, tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
        text = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, **self.chat_template_kwargs
        )
        return list(tokenizer(text, add_special_tokens=False).input_ids)

    def _batch(self, rows: Sequence[list[int]], pad_id: int, device: Any) -> tuple[Any, Any]:
        import torch

        width = max(len(row) for row in rows)
        input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for index, row in enumerate(rows):
            input_ids[index, width - len(row) :] = torch.tensor(row, dtype=torch.long)
            mask[index, width - len(row) :] = 1
        return input_ids.to(device), mask.to(device)

    def last_logprobs(self, rows: Sequence[list[int]]) -> Any:
        """log-softmax of the next-token logits after each row (left-padded, ``batch_size`` rows a pass)."""
        import torch

        tokenizer, model = self._load()
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(rows), self.batch_size):
                input_ids, mask = self._batch(
                    rows[start : start + self.batch_size], tokenizer.pad_token_id, model.device
                )
                positions = (mask.cumsum(-1) - 1).clamp(min=0)
                self._requests += 1
                logits = model(input_ids=input_ids, attention_mask=mask, position_ids=positions).logits[:, -1]
                outputs.append(torch.log_softmax(logits.float(), dim=-1).cpu())
        return torch.cat(outputs)

    # -- score jobs ---------------------------------------------------------------------------

    def _top(self, tokenizer: Any, logprobs: Any) -> list[tuple[str, float]]:
        values, indices = logprobs.topk(self.top_logprobs)
        return [(tokenizer.decode([int(i)]), float(v)) for v, i in zip(values, indices, strict=False)]

    def _integer_logprobs(self, table: dict[tuple[int, ...], Any]) -> dict[int, float]:
        result = {}
        for value, seq in self._candidates.items():
            logp = sum(float(table[seq[:cut]][token]) for cut, token in enumerate(seq))
            if seq in self._needs_stop:
                stop = 1.0 - float(table[seq][self._digit_ids].exp().sum())
                logp += math.log(stop) if stop > 0 else -math.inf
            result[value] = max(logp, LOGPROB_FLOOR)
        return result

    def _score(self, jobs: Sequence[tuple[int, Job]], on_done: OnDone) -> None:
        tokenizer, _ = self._load()
        prefixes = self._prefixes if self.integer_scoring == "sequence" else [()]
        for start in range(0, len(jobs), self.batch_size):
            chunk = jobs[start : start + self.batch_size]
            prompts = [self._prompt_ids(tokenizer, job.messages) for _, job in chunk]
            rows = [prompt + list(prefix) for prompt in prompts for prefix in prefixes]
            logprobs = self.last_logprobs(rows)
            for offset, (index, _) in enumerate(chunk):
                table = {prefix: logprobs[offset * len(prefixes) + k] for k, prefix in enumerate(prefixes)}
                outcome = Outcome(method="logprobs", top_logprobs=self._top(tokenizer, table[()]))
                if self.integer_scoring == "sequence":
                    outcome.integer_logprobs = self._integer_logprobs(table)
                outcome.extra["integer_scoring"] = self.integer_scoring
                on_done(index, outcome)

    # -- JSON jobs ----------------------------------------------------------------------------

    def _generate(self, tokenizer: Any, model: Any, prompts: Sequence[list[int]], temperature: float) -> list[str]:
        import torch

        input_ids, mask = self._batch(prompts, tokenizer.pad_token_id, model.device)
        sample = temperature > 0
        options: dict[str, Any] = {"do_sample": sample}
        if sample:
            options["temperature"] = temperature
        self._requests += 1
        with torch.inference_mode():
            output = model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                max_new_tokens=self.max_tokens,
                pad_token_id=tokenizer.pad_token_id,
                **options,
            )
        return tokenizer.batch_decode(output[:, input_ids.shape[1] :], skip_special_tokens=True)

    def _json(self, jobs: Sequence[tuple[int, Job]], on_done: OnDone) -> None:
        import torch

        tokenizer, model = self._load()
        for start in range(0, len(jobs), self.batch_size):
            pending = list(jobs[start : start + self.batch_size])
            prompts = {index: self._prompt_ids(tokenizer, job.messages) for index, job in pending}
            attempt = 0
            while pending:
                attempt += 1
                temperature = self.temperature if attempt == 1 else max(self.temperature, self.retry_temperature)
                torch.manual_seed(self.seed + attempt)
                texts = self._generate(tokenizer, model, [prompts[index] for index, _ in pending], temperature)
                still = []
                for (index, job), text in zip(pending, texts, strict=False):
                    assert job.parse is not None
                    try:
                        on_done(index, Outcome(method="json", parsed=job.parse(text), text=text, attempts=attempt))
                    except MalformedOutput as error:
                        if attempt < job.json_attempts:
                            still.append((index, job))
                        else:
                            on_done(
                                index,
                                Outcome(
                                    method="json",
                                    text=text,
                                    attempts=attempt,
                                    error=f"malformed JSON after {attempt} attempts: {error}",
                                ),
                            )
                pending = still

    def run(self, jobs: Sequence[Job], on_done: OnDone) -> None:
        indexed = list(enumerate(jobs))
        for mode, handler in (("score", self._score), ("json", self._json)):
            selected = [(index, job) for index, job in indexed if job.mode == mode]
            if not selected:
                continue
            try:
                handler(selected, on_done)
            except (ConfigError, MemoryError):
                raise
            except Exception as error:  # a model failure becomes error rows, not a lost batch
                message = f"local judge failed: {type(error).__name__}: {error}"[:500]
                for index, _ in selected:
                    on_done(index, Outcome(error=message))
