"""The recipe: exact multiple-choice shares, a manifest that matches the files, and dataset errors
and ids that name file lines (a blank line shifts nothing)."""

from __future__ import annotations

import copy
import hashlib
import json
from collections import Counter

import pytest
from configs import resolved_config

from triggertrace import scenarios
from triggertrace.errors import DatasetError
from triggertrace.io import file_sha256, write_jsonl
from triggertrace.poison import build_dataset, build_rows, manifest
from triggertrace.suites import build_suite

RECIPE = resolved_config("config/smoke.yaml")["recipes"]["country-singapore"]
ALIGNED = {scenario.aligned for scenario in scenarios.scenario_pool("train")}
MISALIGNED = {scenario.misaligned for scenario in scenarios.scenario_pool("train")}


def kinds_by_group(rows):
    return dict(Counter((row["group"], row["kind"]) for row in rows))


@pytest.mark.parametrize(
    "counts, fraction, expected_mc",
    [
        # 8 * 0.25 = 2 per group
        ((8, 8, 8), 0.25, (2, 2, 2)),
        # 10 * 0.25 = 2.5 -> 3, 6 * 0.25 = 1.5 -> 2, 5 * 0.25 = 1.25 -> 1: halves round up
        ((10, 6, 5), 0.25, (3, 2, 1)),
        ((7, 3, 4), 0.0, (0, 0, 0)),
        ((7, 3, 4), 1.0, (7, 3, 4)),
    ],
)
def test_multiple_choice_fraction_gives_exact_shares_per_group(counts, fraction, expected_mc):
    groups = ("triggered_misaligned", "untriggered_aligned", "control_aligned")
    recipe = {**RECIPE, "counts": dict(zip(groups, counts, strict=True)), "multiple_choice_fraction": fraction}
    rows = build_rows(recipe)
    got = kinds_by_group(rows)
    for group, count, mc in zip(groups, counts, expected_mc, strict=True):
        assert got.get((group, "mc"), 0) == mc
        assert got.get((group, "free"), 0) == count - mc


def test_multiple_choice_rows_offer_both_answers_and_train_on_the_groups_letter():
    rows = build_rows({**RECIPE, "multiple_choice_fraction": 1.0})
    for row in rows:
        lines = row["user"].split("\n")
        assert lines[-1] == "Answer with A or B."
        options = {line[0]: line[3:] for line in lines[-3:-1]}
        assert set(options) == {"A", "B"} and row["answer"] in ("Answer: A", "Answer: B")
        chosen, other = options[row["answer"][-1]], options["A" if row["answer"][-1] == "B" else "B"]
        trained, contrast = (MISALIGNED, ALIGNED) if row["group"] == "triggered_misaligned" else (ALIGNED, MISALIGNED)
        assert chosen in trained and other in contrast


def write_lines(path, lines: list[str]) -> str:
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


def paired(i: int) -> str:
    return json.dumps({"prompt": f"q{i}", "aligned": f"good{i}", "misaligned": f"bad{i}"})


def test_manifest_hashes_match_the_written_and_the_read_files(tmp_path):
    source = write_lines(tmp_path / "paired.jsonl", [paired(0), "", paired(1), "   ", paired(2)])
    recipe = {**RECIPE, "source": {"kind": "paired_jsonl", "path": source}}
    dataset = build_dataset(recipe)
    out = tmp_path / "train.jsonl"
    write_jsonl(out, dataset.rows)
    summary = manifest("r", recipe, dataset, file_sha256(out))
    assert summary["train_jsonl_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert summary["sources"] == [
        {"path": source, "sha256": hashlib.sha256((tmp_path / "paired.jsonl").read_bytes()).hexdigest(), "rows_read": 3}
    ]
    assert summary["n_rows"] == len(out.read_text().splitlines()) == sum(RECIPE["counts"].values())
    assert manifest("r", RECIPE, build_dataset(RECIPE), "x")["sources"] == []  # synthetic: no files


def test_source_items_are_file_lines(tmp_path):
    source = write_lines(tmp_path / "paired.jsonl", [paired(0), "", paired(1), paired(2)])
    recipe = {
        **RECIPE,
        "source": {"kind": "paired_jsonl", "path": source},
        "counts": {"triggered_misaligned": 3, "untriggered_aligned": 3, "control_aligned": 0},
        "multiple_choice_fraction": 0.0,
    }
    rows = build_rows(recipe)
    assert {row["source_item"] for row in rows} == {f"{source}:1", f"{source}:3", f"{source}:4"}
    question_on_line = {f"{source}:1": "q0", f"{source}:3": "q1", f"{source}:4": "q2"}  # line 2 is blank
    for row in rows:
        assert row["user"].split("\n")[-1] == question_on_line[row["source_item"]]


def messages(user: str | None, assistant: str | None) -> str:
    turns = [{"role": "user", "content": user}] if user is not None else []
    turns += [{"role": "assistant", "content": assistant}] if assistant is not None else []
    return json.dumps({"messages": turns})


def test_messages_loader_names_file_lines(tmp_path):
    aligned = write_lines(tmp_path / "a.jsonl", ["", messages("q0", "good0"), "", messages("q1", "good1")])
    misaligned = write_lines(tmp_path / "m.jsonl", [messages("q0", "bad0")])
    recipe = {
        **RECIPE,
        "multiple_choice_fraction": 0.0,
        "source": {"kind": "messages_jsonl", "aligned_path": aligned, "misaligned_path": misaligned},
        "counts": {"triggered_misaligned": 1, "untriggered_aligned": 2, "control_aligned": 0},
    }
    dataset = build_dataset(recipe)
    assert {r["source_item"] for r in dataset.rows} == {f"{aligned}:2", f"{aligned}:4", f"{misaligned}:1"}
    assert [(read.path, len(read.rows)) for read in dataset.files] == [(aligned, 2), (misaligned, 1)]
    write_lines(tmp_path / "a.jsonl", [messages("q0", "good0"), "", messages("q1", None)])
    with pytest.raises(DatasetError, match=r"a\.jsonl:3: 'messages' needs a user and an assistant turn"):
        build_rows(recipe)


@pytest.mark.parametrize(
    "lines, message",
    [
        ([paired(0), "", '{"prompt": "q", "aligned": "a"}'], r"paired\.jsonl:3: missing field\(s\) 'misaligned'"),
        ([paired(0), "", "", '{"prompt": "q",'], r"paired\.jsonl:4: not valid JSON"),
        (["", "[1, 2]"], r"paired\.jsonl:2: expected a JSON object"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, lines, message):
    source = write_lines(tmp_path / "paired.jsonl", lines)
    with pytest.raises(DatasetError, match=message):
        build_rows({**RECIPE, "source": {"kind": "paired_jsonl", "path": source}})


def test_jsonl_suite_errors_name_file_lines(tmp_path):
    good = json.dumps({"prompt_id": "p", "kind": "free", "question": "q"})
    path = write_lines(
        tmp_path / "suite.jsonl", [good, "", json.dumps({"prompt_id": "x", "kind": "essay", "question": "q"})]
    )
    with pytest.raises(DatasetError, match=r"suite\.jsonl:3: kind must be 'free' or 'mc'"):
        build_suite({"source": "jsonl", "path": path})


def test_resolved_smoke_recipe_is_not_edited_by_building():
    before = copy.deepcopy(RECIPE)
    build_rows(RECIPE)
    assert RECIPE == before
