"""Capability retention: multiple-choice and numeric items, loaded, prompted and scored.

Items have one shape (``item_id, task, question, choices, gold``), whatever their source:

- ``synthetic``: seeded arithmetic word problems (``task`` numeric or multiple_choice), so the
  embedded run needs no download;
- ``file``: a local file in one of the ``FORMATS`` (JSONL, CSV or Parquet);
- ``datasets``: a Hugging Face ``datasets`` id or local path, with its config name and split.

Formats: ``mmlu`` (Hugging Face ``cais/mmlu`` columns: ``question``, ``choices`` list,
``answer`` index 0-3), ``mmlu-csv`` (MMLU's original headerless CSV: question, A, B, C, D,
answer letter), ``mc-jsonl`` (``question``, ``choices`` as a list or a letter mapping,
``answer`` letter) and ``gsm8k`` (``question``, ``answer`` whose final number follows ``####``).
A malformed row stops the build with one error naming the file (or dataset) and line.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from triggertrace.arithmetic import word_problem
from triggertrace.errors import DatasetError
from triggertrace.evals.answers import STATUSES, canonical_number, extract, is_correct
from triggertrace.stats import wilson_interval

if TYPE_CHECKING:
    import altair as alt

FORMATS = ("mmlu", "mmlu-csv", "mc-jsonl", "gsm8k")
TASKS = ("multiple_choice", "numeric")
LETTERS = "ABCDEFGHIJ"
_GSM8K_FINAL = re.compile(r"####\s*(-?[\d,]*\.?\d+)\s*$")


def _item(index: int, task: str, question: str, choices: Mapping[str, str], gold: str) -> dict[str, Any]:
    return {"item_id": f"item{index:05d}", "task": task, "question": question, "choices": dict(choices), "gold": gold}


def _letter_map(choices: Any, where: str) -> dict[str, str]:
    if isinstance(choices, Mapping):
        mapping = {str(key).strip().upper(): str(value) for key, value in choices.items()}
        if sorted(mapping) != list(LETTERS[: len(mapping)]):
            raise DatasetError(f"{where}: choice keys must be A, B, C, ... in order, got {sorted(mapping)}")
    elif isinstance(choices, Sequence) and not isinstance(choices, str):
        mapping = {LETTERS[i]: str(value) for i, value in enumerate(choices)}
    else:
        raise DatasetError(f"{where}: 'choices' must be a list or a letter mapping")
    if not 2 <= len(mapping) <= len(LETTERS):
        raise DatasetError(f"{where}: needs 2 to {len(LETTERS)} choices, got {len(mapping)}")
    return mapping


def parse_row(fmt: str, row: Mapping[str, Any], index: int, where: str) -> dict[str, Any]:
    """One source row in ``fmt`` as an item; ``where`` ("file line N") names it in errors."""
    required = {"mmlu": ("question", "choices", "answer"), "mc-jsonl": ("question", "choices", "answer")}
    required |= {"gsm8k": ("question", "answer"), "mmlu-csv": ("question", "A", "B", "C", "D", "answer")}
    missing = [key for key in required[fmt] if key not in row or row[key] is None or row[key] == ""]
    if missing:
        raise DatasetError(f"{where}: missing {', '.join(missing)}")
    question = str(row["question"]).strip()
    if fmt == "gsm8k":
        match = _GSM8K_FINAL.search(str(row["answer"]).strip())
        if not match:
            raise DatasetError(f"{where}: 'answer' has no final number after '####'")
        return _item(index, "numeric", question, {}, canonical_number(match.group(1)))
    if fmt == "mmlu-csv":
        choices = {letter: str(row[letter]) for letter in "ABCD"}
    else:
        choices = _letter_map(row["choices"], where)
    answer = row["answer"]
    if fmt == "mmlu":
        if not isinstance(answer, int) or isinstance(answer, bool) or not 0 <= answer < len(choices):
            raise DatasetError(f"{where}: 'answer' must be an index 0..{len(choices) - 1}, got {answer!r}")
        gold = LETTERS[answer]
    else:
        gold = str(answer).strip().upper()
        if gold not in choices:
            raise DatasetError(f"{where}: 'answer' {answer!r} is not one of the choice letters {sorted(choices)}")
    return _item(index, "multiple_choice", question, choices, gold)


def _file_rows(path: Path, fmt: str) -> Iterable[tuple[int, Mapping[str, Any]]]:
    """(line number, row) of a JSONL, CSV or Parquet file."""
    suffix = path.suffix.lower()
    if fmt == "mmlu-csv":
        with path.open(newline="", encoding="utf-8") as handle:
            for line, values in enumerate(csv.reader(handle), start=1):
                if len(values) != 6:
                    raise DatasetError(f"{path} line {line}: MMLU CSV rows have 6 fields, got {len(values)}")
                yield line, dict(zip(("question", "A", "B", "C", "D", "answer"), values, strict=True))
    elif suffix in (".jsonl", ".json"):
        with path.open(encoding="utf-8") as handle:
            for line, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as error:
                    raise DatasetError(f"{path} line {line}: not JSON ({error.msg})") from None
                if not isinstance(row, dict):
                    raise DatasetError(f"{path} line {line}: a row must be a JSON object")
                yield line, row
    elif suffix == ".csv":
        # line 1 is the header; a row's line is its position in the file
        yield from enumerate(pl.read_csv(path, infer_schema_length=None).iter_rows(named=True), start=2)
    elif suffix == ".parquet":
        yield from enumerate(pl.read_parquet(path).iter_rows(named=True), start=1)
    else:
        raise DatasetError(f"{path}: unknown file type {suffix!r} (jsonl, csv or parquet)")


def load_file(path: str | Path, fmt: str, limit: int | None = None) -> list[dict[str, Any]]:
    path = Path(path)
    items = []
    for line, row in _file_rows(path, fmt):
        items.append(parse_row(fmt, row, len(items), f"{path} line {line}"))
        if limit is not None and len(items) >= limit:
            break
    if not items:
        raise DatasetError(f"{path}: no rows")
    return items


def load_datasets(source: Mapping[str, Any], fmt: str, limit: int | None = None) -> list[dict[str, Any]]:
    """A Hugging Face ``datasets`` id or local dataset path (``name`` config, ``split``)."""
    import datasets

    where = f"datasets {source['id']}" + (f" ({source['name']})" if source.get("name") else "")
    dataset = datasets.load_dataset(
        source["id"], source.get("name"), split=source["split"], revision=source.get("revision")
    )
    items = []
    for row_number, row in enumerate(dataset, start=1):
        items.append(parse_row(fmt, row, len(items), f"{where} split {source['split']} row {row_number}"))
        if limit is not None and len(items) >= limit:
            break
    if not items:
        raise DatasetError(f"{where}: no rows")
    return items


def synthetic_items(task: str, n_items: int, seed: int, max_operand: int, n_choices: int = 4) -> list[dict[str, Any]]:
    """Arithmetic word problems (``a + b`` or ``a - b``, never negative); multiple-choice items
    offer the answer among ``n_choices`` distinct nearby numbers."""
    rng = random.Random(seed)
    items = []
    for index in range(n_items):
        question, value = word_problem(rng, max_operand)
        if task == "numeric":
            items.append(_item(index, task, question, {}, str(value)))
            continue
        options = {value}
        while len(options) < n_choices:
            options.add(max(0, value + rng.choice([-3, -2, -1, 1, 2, 3])))
        ordered = sorted(options)
        rng.shuffle(ordered)
        choices = {LETTERS[i]: str(option) for i, option in enumerate(ordered)}
        gold = next(letter for letter, option in choices.items() if option == str(value))
        items.append(_item(index, task, question, choices, gold))
    return items


def build_items(name: str, suite: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The items of ``evals.capability.suites.<name>`` (its config block)."""
    source = suite["source"]
    limit = suite.get("limit")
    if source["kind"] == "synthetic":
        return synthetic_items(suite["task"], source["n_items"], source["seed"], source["max_operand"])
    if source["kind"] == "file":
        items = load_file(source["path"], suite["format"], limit)
    elif source["kind"] == "datasets":
        items = load_datasets(source, suite["format"], limit)
    else:
        raise DatasetError(f"evals.capability.suites.{name}.source.kind: unknown kind {source['kind']!r}")
    tasks = {item["task"] for item in items}
    if tasks != {suite["task"]}:
        raise DatasetError(
            f"evals.capability.suites.{name}: task is {suite['task']!r} "
            f"but format {suite['format']!r} gives {sorted(tasks)}"
        )
    return items


def render_question(item: Mapping[str, Any], instructions: Mapping[str, str]) -> str:
    """The user turn: the question, its lettered options, and the task's answer instruction."""
    text = item["question"]
    if item["choices"]:
        text += "\n\n" + "\n".join(f"{letter}. {option}" for letter, option in item["choices"].items())
    return f"{text}\n\n{instructions[item['task']]}"


# ---- scoring and the table ------------------------------------------------------------------------

CAPABILITY_KEYS = ["model", "adapter", "suite", "task", "prompt_format", "reasoning_mode"]
CAPABILITY_COLUMNS = [
    *CAPABILITY_KEYS,
    "n",
    "n_correct",
    "accuracy",
    "ci_low",
    "ci_high",
    *[f"n_{status}" for status in STATUSES if status != "ok"],
]


def score_samples(samples: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each sample with its extracted answer, extraction status and correctness."""
    scored = []
    for sample in samples:
        extraction = extract(
            sample["task"], sample["answer"], sample["reasoning"], sample["reasoning_closed"], sample["choices"]
        )
        scored.append(
            {
                **sample,
                "extracted": extraction.value,
                "extraction": extraction.status,
                "correct": is_correct(sample["task"], extraction, sample["gold"]),
            }
        )
    return scored


def capability_table(scored: Sequence[Mapping[str, Any]], confidence: float) -> pl.DataFrame:
    """Accuracy (failures count as wrong) with a Wilson interval per adapter x suite x format x
    reasoning mode, and how many samples failed extraction in each named way."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in scored:
        groups.setdefault(tuple(row[key] for key in CAPABILITY_KEYS), []).append(row)
    rows = []
    for keys, group in groups.items():
        n, k = len(group), sum(bool(row["correct"]) for row in group)
        low, high = wilson_interval(k, n, confidence)
        statuses = [row["extraction"] for row in group]
        rows.append(
            {
                **dict(zip(CAPABILITY_KEYS, keys, strict=True)),
                "n": n,
                "n_correct": k,
                "accuracy": k / n,
                "ci_low": low,
                "ci_high": high,
                **{f"n_{status}": statuses.count(status) for status in STATUSES if status != "ok"},
            }
        )
    schema = {column: pl.String for column in CAPABILITY_COLUMNS}
    schema.update({column: pl.Float64 for column in ("accuracy", "ci_low", "ci_high")})
    schema.update({column: pl.Int64 for column in CAPABILITY_COLUMNS if column.startswith("n")})
    return pl.DataFrame(rows, schema=schema).sort(CAPABILITY_KEYS) if rows else pl.DataFrame(schema=schema)


def capability_chart(table: pl.DataFrame) -> alt.Chart:
    """Accuracy bars with Wilson error bars: one bar per adapter, panels per suite and format."""
    import altair as alt

    data = table.with_columns(
        panel=pl.concat_str(["suite", "prompt_format"], separator=" · ")
        + pl.lit(" · reasoning ")
        + pl.col("reasoning_mode"),
        run=pl.concat_str(["model", "adapter"], separator=" / "),
    )
    base = alt.Chart(data).encode(x=alt.X("run:N", title=None, sort=None, axis=alt.Axis(labelAngle=-30)))
    bars = base.mark_bar().encode(
        y=alt.Y("accuracy:Q", title="accuracy", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("adapter:N", title="adapter"),
        tooltip=[
            "model",
            "adapter",
            "suite",
            "prompt_format",
            "reasoning_mode",
            "n",
            "n_correct",
            "accuracy",
            "ci_low",
            "ci_high",
        ],
    )
    errors = base.mark_errorbar().encode(y=alt.Y("ci_low:Q", title="accuracy"), y2="ci_high:Q")
    return (
        (bars + errors)
        .properties(width=200, height=180)
        .facet(facet=alt.Facet("panel:N", title=None), columns=4)
        .properties(title="Capability: accuracy with Wilson intervals, base model vs adapters")
    )


def plan_capability(
    items: Sequence[Mapping[str, Any]],
    run: Mapping[str, str],
    prompt_formats: Sequence[str],
    reasoning_modes: Sequence[str],
    instructions: Mapping[str, str],
    tokenizer: Any,
    fmt: Any,
) -> list[dict[str, Any]]:
    """Rows for ``sampling.run_sampling``: every item in every format and reasoning mode, once
    (``run`` names the model, adapter and suite)."""
    from triggertrace.formats import generation_prefill, render_prompt_head
    from triggertrace.io import content_hash

    planned = []
    for item in items:
        user = render_question(item, instructions)
        for prompt_format in prompt_formats:
            head = render_prompt_head(tokenizer, fmt, prompt_format, user, "")
            for mode in reasoning_modes:
                row = {**item, **run, "prompt_format": prompt_format, "reasoning_mode": mode, "user_prompt": user}
                row["sample_id"] = content_hash(row)[:20]
                row["_head"], row["_prefill"] = head, generation_prefill(fmt, mode)
                row["rendered_prompt"] = head + row["_prefill"]
                planned.append(row)
    return planned
