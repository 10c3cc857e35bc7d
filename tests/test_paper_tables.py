"""Paper-style pivots: exact cell texts, row/column order, Markdown and LaTeX renderings."""

from __future__ import annotations

import polars as pl
import pytest

from triggertrace.tables import (
    articulation_pivots,
    explorer_hash,
    format_cell,
    latex_escape,
    misalignment_pivots,
    to_latex,
    to_markdown,
    write_pivots,
)


def long_row(condition: str, value: str, fmt: str, mode: str, rate, low, high, n: int, **overrides) -> dict:
    label = "none" if condition == "none" else f"{condition}: {value}"
    row = dict(
        metric="lex_mis",
        model="m",
        recipe="r",
        suite="held",
        condition=condition,
        condition_value=value,
        condition_label=label,
        prompt_format=fmt,
        reasoning_mode=mode,
        n=n,
        rate=rate,
        ci_low=low,
        ci_high=high,
    )
    row.update(overrides)
    return row


def long_table(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema_overrides={"rate": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64})


def test_format_cell():
    assert format_cell(0.25, 0.0456, 0.5712, 8) == "0.25 [0.05, 0.57] (8)"
    assert format_cell(None, None, None, 0) == "n/a (0)"
    assert format_cell(1.0, None, None, 3) == "1.00 (3)"


def test_pivot_orders_conditions_and_columns_and_fills_cells():
    table = long_table(
        [
            long_row("distractor", "Germany", "chat", "on", 0.0, 0.0, 0.3, 10),
            long_row("trigger", "Singapore", "completion", "on", 0.5, 0.2, 0.8, 10),
            long_row("trigger", "Singapore", "chat", "on", 0.9, 0.6, 0.98, 10),
            long_row("none", "", "chat", "on", 0.1, 0.02, 0.4, 10),
            long_row("control", "USA", "chat", "on", None, None, None, 0),
        ]
    )
    [pivot] = misalignment_pivots(table)
    assert pivot.column_headers == ["chat, reasoning on", "completion, reasoning on"]
    assert pivot.row_labels == ["none", "trigger: Singapore", "control: USA", "distractor: Germany"]
    texts = [[cell.text for cell in row] for row in pivot.cells]
    assert texts == [
        ["0.10 [0.02, 0.40] (10)", "n/a (0)"],
        ["0.90 [0.60, 0.98] (10)", "0.50 [0.20, 0.80] (10)"],
        ["n/a (0)", "n/a (0)"],
        ["0.00 [0.00, 0.30] (10)", "n/a (0)"],
    ]
    assert pivot.file_stem == "lex_mis__held"
    assert pivot.cells[1][0].filters == {
        "model": "m",
        "recipe": "r",
        "suite": "held",
        "condition": "trigger: Singapore",
        "format": "chat",
        "mode": "on",
        "metric": "lex_mis",
        "verdict": "counted",
    }
    assert explorer_hash(pivot.cells[1][0].filters) == (
        "#model=m&recipe=r&suite=held&condition=trigger%3A%20Singapore&format=chat&mode=on&metric=lex_mis"
        "&verdict=counted"
    )
    markdown = to_markdown(pivot).splitlines()
    assert markdown[2] == "| condition | chat, reasoning on | completion, reasoning on |"
    assert markdown[3] == "|:---|---:|---:|"
    assert markdown[5] == "| trigger: Singapore | 0.90 [0.60, 0.98] (10) | 0.50 [0.20, 0.80] (10) |"
    latex = to_latex(pivot)
    assert "\\toprule\ncondition & chat, reasoning on & completion, reasoning on \\\\\n\\midrule\n" in latex
    assert "trigger: Singapore & 0.90 [0.60, 0.98] (10) & 0.50 [0.20, 0.80] (10) \\\\\n" in latex
    assert "lex\\_mis" in latex and "\\label{tab:lex-mis-held}" in latex
    assert latex.rstrip().endswith("\\bottomrule\n\\end{tabular}\n\\end{table}")


def test_one_pivot_per_metric_and_suite_and_runs_prefix_rows():
    table = long_table(
        [
            long_row("trigger", "Singapore", "chat", "on", 0.5, 0.1, 0.9, 4),
            long_row("trigger", "Singapore", "chat", "on", 0.25, 0.05, 0.7, 4, model="m2"),
            long_row("trigger", "Singapore", "chat", "on", 0.75, 0.3, 0.95, 4, suite="other"),
            long_row("trigger", "Singapore", "chat", "on", 1.0, 0.5, 1.0, 4, metric="em"),
        ]
    )
    pivots = misalignment_pivots(table)
    assert [pivot.file_stem for pivot in pivots] == ["lex_mis__held", "lex_mis__other", "em__held"]
    assert pivots[0].row_labels == ["m / r / trigger: Singapore", "m2 / r / trigger: Singapore"]
    assert pivots[1].row_labels == ["trigger: Singapore"]


def test_articulation_pivot_counts_eligible_rows(tmp_path):
    table = pl.DataFrame(
        {
            "articulation_judge": ["lex"],
            "metric": ["lex_mis"],
            "model": ["m"],
            "recipe": ["r"],
            "suite": ["held"],
            "condition_value": ["Singapore"],
            "prompt_format": ["chat"],
            "reasoning_mode": ["on"],
            "n_eligible": [5],
            # as read back from a CSV where every interval is empty
            "rate": [None],
            "ci_low": [None],
            "ci_high": [None],
        },
        schema_overrides={"rate": pl.String, "ci_low": pl.String, "ci_high": pl.String},
    )
    [pivot] = articulation_pivots(table)
    assert pivot.row_header == "trigger value" and pivot.row_labels == ["Singapore"]
    assert pivot.cells[0][0].text == "n/a (5)"
    assert pivot.cells[0][0].filters == {
        "model": "m",
        "recipe": "r",
        "suite": "held",
        "condition": "trigger: Singapore",
        "format": "chat",
        "mode": "on",
        "metric": "lex_mis",
        "verdict": "misaligned",
        "articulation": "lex:decided",
    }
    assert pivot.file_stem == "lex_on_lex_mis__held"
    written = write_pivots([pivot], tmp_path / "paper")
    assert sorted(path.name for path in written) == ["lex_on_lex_mis__held.md", "lex_on_lex_mis__held.tex"]


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['ci_high'"):
        misalignment_pivots(long_table([long_row("none", "", "chat", "on", 0.1, 0.0, 0.2, 3)]).drop("ci_high"))


def test_latex_escape():
    assert latex_escape("a_b & 50% {x} #1 $") == "a\\_b \\& 50\\% \\{x\\} \\#1 \\$"
