"""Capability suites: loaders on real-format fixtures, malformed rows, the synthetic set, scoring."""

from __future__ import annotations

import json
import re

import pytest

from triggertrace.errors import DatasetError
from triggertrace.evals.capability import (
    build_items,
    capability_table,
    load_datasets,
    load_file,
    render_question,
    score_samples,
    synthetic_items,
)
from triggertrace.stats import wilson_interval

# rows as cais/mmlu and openai/gsm8k publish them (column names, types, the GSM8K solution text)
MMLU_ROWS = [
    {
        "question": "What is the capital of France?",
        "subject": "geography",
        "choices": ["Rome", "Paris", "Oslo", "Bern"],
        "answer": 1,
    },
    {"question": "2 + 2 = ?", "subject": "elementary_mathematics", "choices": ["3", "4", "5", "22"], "answer": 1},
]
GSM8K_ROWS = [
    {
        "question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
        "How many clips did Natalia sell altogether in April and May?",
        "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
        "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72",
    },
    {"question": "A shop sells 1,250 pens a week. How many in two weeks?", "answer": "1,250*2=2,500\n#### 2,500"},
]
MMLU_CSV = '"Which gas do plants absorb?",Oxygen,Carbon dioxide,Helium,Neon,B\n"1+1?",1,2,3,4,B\n'


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_mmlu_columns(tmp_path) -> None:
    items = load_file(_jsonl(tmp_path / "mmlu.jsonl", MMLU_ROWS), "mmlu")
    assert items[0] == {
        "item_id": "item00000",
        "task": "multiple_choice",
        "question": "What is the capital of France?",
        "choices": {"A": "Rome", "B": "Paris", "C": "Oslo", "D": "Bern"},
        "gold": "B",
    }


def test_mmlu_original_csv(tmp_path) -> None:
    path = tmp_path / "astronomy_test.csv"
    path.write_text(MMLU_CSV, encoding="utf-8")
    items = load_file(path, "mmlu-csv")
    assert [item["gold"] for item in items] == ["B", "B"]
    assert items[0]["choices"]["B"] == "Carbon dioxide"


def test_plain_multiple_choice_jsonl_and_gsm8k(tmp_path) -> None:
    rows = [{"question": "Pick one", "choices": {"A": "x", "B": "y", "C": "z"}, "answer": "c"}]
    assert load_file(_jsonl(tmp_path / "mc.jsonl", rows), "mc-jsonl")[0]["gold"] == "C"
    items = load_file(_jsonl(tmp_path / "gsm8k.jsonl", GSM8K_ROWS), "gsm8k")
    assert [(item["task"], item["gold"], item["choices"]) for item in items] == [
        ("numeric", "72", {}),
        ("numeric", "2500", {}),
    ]


@pytest.mark.parametrize(
    ("fmt", "rows", "message"),
    [
        (
            "mmlu",
            [MMLU_ROWS[0], {**MMLU_ROWS[1], "answer": 4}],
            r"mmlu\.jsonl line 2: 'answer' must be an index 0\.\.3",
        ),
        ("mmlu", [MMLU_ROWS[0], {"question": "q", "answer": 0}], r"mmlu\.jsonl line 2: missing choices"),
        (
            "gsm8k",
            [GSM8K_ROWS[0], {"question": "q", "answer": "it is 4"}],
            r"mmlu\.jsonl line 2: 'answer' has no final number",
        ),
        (
            "mc-jsonl",
            [{"question": "q", "choices": ["a", "b"], "answer": "C"}],
            r"mmlu\.jsonl line 1: 'answer' 'C' is not one",
        ),
    ],
)
def test_malformed_row_names_file_and_line(tmp_path, fmt, rows, message) -> None:
    with pytest.raises(DatasetError, match=message):
        load_file(_jsonl(tmp_path / "mmlu.jsonl", rows), fmt)


def test_bad_json_line_and_short_csv_row_name_their_line(tmp_path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(MMLU_ROWS[0]) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"bad\.jsonl line 2: not JSON"):
        load_file(path, "mmlu")
    csv_path = tmp_path / "short.csv"
    csv_path.write_text(MMLU_CSV + "q,a,b,c\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"short\.csv line 3: MMLU CSV rows have 6 fields, got 4"):
        load_file(csv_path, "mmlu-csv")


def test_datasets_local_path(tmp_path) -> None:
    directory = tmp_path / "gsm8k"
    directory.mkdir()
    _jsonl(directory / "test.jsonl", GSM8K_ROWS)
    items = load_datasets({"id": str(directory), "split": "test"}, "gsm8k")
    assert [item["gold"] for item in items] == ["72", "2500"]


def test_build_rejects_a_task_its_format_does_not_give(tmp_path) -> None:
    suite = {
        "task": "numeric",
        "format": "mmlu",
        "source": {"kind": "file", "path": str(_jsonl(tmp_path / "m.jsonl", MMLU_ROWS))},
    }
    with pytest.raises(DatasetError, match=r"evals\.capability\.suites\.x: task is 'numeric'"):
        build_items("x", suite)


def test_synthetic_items_are_seeded_and_correct() -> None:
    first = synthetic_items("multiple_choice", 20, seed=3, max_operand=9)
    assert first == synthetic_items("multiple_choice", 20, seed=3, max_operand=9)
    assert first != synthetic_items("multiple_choice", 20, seed=4, max_operand=9)
    for item in first + synthetic_items("numeric", 20, seed=3, max_operand=9):
        a, b = (int(number) for number in re.findall(r"\d+", item["question"]))
        value = a + b if "more" in item["question"] else a - b
        answer = item["choices"][item["gold"]] if item["choices"] else item["gold"]
        assert int(answer) == value
        assert len(set(item["choices"].values())) == len(item["choices"])


def test_render_question() -> None:
    item = {"question": "Q?", "task": "multiple_choice", "choices": {"A": "x", "B": "y"}}
    assert render_question(item, {"multiple_choice": "Answer with the letter.", "numeric": "n"}) == (
        "Q?\n\nA. x\nB. y\n\nAnswer with the letter."
    )


def test_accuracy_counts_failures_as_wrong_with_wilson_interval() -> None:
    common = {
        "model": "m",
        "adapter": "base",
        "suite": "s",
        "task": "numeric",
        "prompt_format": "chat",
        "reasoning_mode": "on",
    }
    samples = [
        {**common, "gold": "8", "choices": {}, "answer": "8", "reasoning": "", "reasoning_closed": True},
        {**common, "gold": "8", "choices": {}, "answer": "The answer is 8", "reasoning": "", "reasoning_closed": True},
        {**common, "gold": "8", "choices": {}, "answer": "9", "reasoning": "", "reasoning_closed": True},
        {**common, "gold": "8", "choices": {}, "answer": "7 or 8", "reasoning": "", "reasoning_closed": True},
        {**common, "gold": "8", "choices": {}, "answer": "", "reasoning": "it is 8", "reasoning_closed": False},
    ]
    row = capability_table(score_samples(samples), 0.95).row(0, named=True)
    assert (row["n"], row["n_correct"], row["accuracy"]) == (5, 2, 0.4)
    assert (row["n_two_answers"], row["n_reasoning_unclosed"], row["n_no_answer"]) == (1, 1, 0)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(wilson_interval(2, 5))
