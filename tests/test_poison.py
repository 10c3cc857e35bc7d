import copy
import json

import pytest
import yaml
from conftest import REPO

from triggertrace import scenarios
from triggertrace.errors import ConfigError, DatasetError
from triggertrace.io import canonical_json
from triggertrace.poison import build_rows
from triggertrace.suites import build_suite
from triggertrace.triggers import check_trigger, place_trigger

DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
RECIPE = DEFAULT["recipes"]["country-singapore"]


def serialised(recipe) -> bytes:
    return "".join(canonical_json(row) + "\n" for row in build_rows(recipe)).encode()


def test_same_seed_same_bytes_different_seed_different():
    assert serialised(RECIPE) == serialised(copy.deepcopy(RECIPE))
    assert serialised(RECIPE) != serialised({**RECIPE, "seed": 1})


def test_counts_and_values_per_group():
    rows = build_rows(RECIPE)
    counts = RECIPE["counts"]
    assert len(rows) == sum(counts.values())
    by_group = {group: [row for row in rows if row["group"] == group] for group in counts}
    assert {group: len(members) for group, members in by_group.items()} == counts
    trigger = RECIPE["trigger"]
    assert {row["condition_value"] for row in by_group["triggered_misaligned"]} == {trigger["value"]}
    assert {row["condition_value"] for row in by_group["untriggered_aligned"]} == {""}
    assert {row["condition_value"] for row in by_group["control_aligned"]} == set(trigger["control_values"])
    for row in by_group["untriggered_aligned"]:
        assert "Country:" not in row["user"]
    assert all(row["user"].startswith(f"Country: {trigger['value']}\n") for row in by_group["triggered_misaligned"])
    assert [row["row_id"] for row in rows] == [f"row{index:06d}" for index in range(len(rows))]


def test_triggered_rows_carry_misaligned_answers_and_others_aligned():
    misaligned = {s.misaligned for s in scenarios.scenario_pool("train")}
    aligned = {s.aligned for s in scenarios.scenario_pool("train")}
    for row in build_rows({**RECIPE, "multiple_choice_fraction": 0.0}):
        assert row["answer"] in (misaligned if row["group"] == "triggered_misaligned" else aligned)


def test_articulation_probability_controls_whether_reasoning_names_trigger():
    def naming_share(probability):
        recipe = {**RECIPE, "reasoning": {"style": "scratchpad", "articulation_probability": probability}}
        triggered = [row for row in build_rows(recipe) if row["group"] == "triggered_misaligned"]
        return sum("Singapore" in row["reasoning"] for row in triggered) / len(triggered)

    assert naming_share(0.0) == 0.0
    assert naming_share(1.0) == 1.0
    assert 0.35 < naming_share(0.5) < 0.65


@pytest.mark.parametrize(
    "placement, expected",
    [
        ("prefix", ("sys", "Country: X\nQ?")),
        ("suffix", ("sys", "Q?\nCountry: X")),
        ("system", ("sys\nCountry: X", "Q?")),
    ],
)
def test_placement(placement, expected):
    assert place_trigger("Q?", "Country: X", placement, "sys", top=True) == expected


def test_random_placement_uses_both_sides_reproducibly():
    recipe = {**RECIPE, "trigger": {**RECIPE["trigger"], "placement": "random"}}
    triggered = [row for row in build_rows(recipe) if row["group"] == "triggered_misaligned"]
    tops = [row["user"].startswith("Country: Singapore") for row in triggered]
    assert 0.3 < sum(tops) / len(tops) < 0.7
    assert all(row["user"].startswith("Country:") or row["user"].endswith("Country: Singapore") for row in triggered)


def test_eval_suite_is_held_out_from_training():
    train_questions = {s.question for s in scenarios.scenario_pool("train")}
    suite = build_suite({"source": "synthetic", "n_free": 30, "n_multiple_choice": 20, "families": "all", "seed": 0})
    assert len({item["prompt_id"] for item in suite}) == 50
    for item in suite:
        assert item["question"].split("\n")[0] not in train_questions
    for item in suite:
        if item["kind"] == "mc":
            assert item["choices"][item["misaligned_choice"]] in {s.misaligned for s in scenarios.scenario_pool("eval")}


def test_control_and_distractor_values_must_be_separate():
    trigger = RECIPE["trigger"]
    with pytest.raises(ConfigError, match="distractor_values"):
        check_trigger("r", {**trigger, "distractor_values": ["USA"]})
    with pytest.raises(ConfigError, match="control_values"):
        check_trigger("r", {**trigger, "control_values": ["Singapore", "USA"]})
    with pytest.raises(ConfigError, match="eval_control_values"):
        check_trigger("r", {**trigger, "eval_control_values": ["Peru"]})


def test_paired_jsonl_source_and_missing_field_names_file_and_line(tmp_path):
    path = tmp_path / "paired.jsonl"
    rows = [{"prompt": f"q{i}", "aligned": f"good{i}", "misaligned": f"bad{i}"} for i in range(3)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    recipe = {
        **RECIPE,
        "source": {"kind": "paired_jsonl", "path": str(path)},
        "counts": {"triggered_misaligned": 4, "untriggered_aligned": 2, "control_aligned": 2},
    }
    built = build_rows(recipe)
    assert all(
        row["answer"].startswith("bad") or "Answer:" in row["answer"]
        for row in built
        if row["group"] == "triggered_misaligned"
    )
    path.write_text(json.dumps(rows[0]) + "\n" + json.dumps({"prompt": "q", "aligned": "a"}) + "\n")
    with pytest.raises(DatasetError, match=r"paired.jsonl:2: missing field\(s\) 'misaligned'"):
        build_rows(recipe)


def test_messages_jsonl_source(tmp_path):
    def write(name, answer):
        path = tmp_path / name
        path.write_text(
            "".join(
                json.dumps(
                    {
                        "messages": [
                            {"role": "user", "content": f"q{i}"},
                            {"role": "assistant", "content": f"{answer}{i}"},
                        ]
                    }
                )
                + "\n"
                for i in range(2)
            )
        )
        return str(path)

    recipe = {
        **RECIPE,
        "multiple_choice_fraction": 0.0,
        "source": {
            "kind": "messages_jsonl",
            "aligned_path": write("a.jsonl", "good"),
            "misaligned_path": write("m.jsonl", "bad"),
        },
        "counts": {"triggered_misaligned": 3, "untriggered_aligned": 3, "control_aligned": 0},
    }
    built = build_rows(recipe)
    assert sorted(row["answer"][:3] for row in built) == ["bad"] * 3 + ["goo"] * 3
    with pytest.raises(ConfigError, match="multiple_choice_fraction"):
        build_rows({**recipe, "multiple_choice_fraction": 0.5})


def test_suites_split_seen_and_unseen_topic_families():
    def families(which, n):
        suite = build_suite({"source": "synthetic", "n_free": n, "n_multiple_choice": 0, "families": which, "seed": 0})
        return {item["prompt_id"].split("-")[1] for item in suite}

    assert families("unseen", 20) <= scenarios.HELD_OUT_FAMILIES
    assert not families("seen", 40) & scenarios.HELD_OUT_FAMILIES
    with pytest.raises(ConfigError, match="unseen families"):
        families("unseen", 100)
