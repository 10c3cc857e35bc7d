"""Paper-style pivots of the long rate tables: one compact table per metric and suite.

Rows are prompt conditions (``none``, ``trigger: Singapore``, ...), columns are prompt format x
reasoning mode, and each cell reads ``rate [low, high] (n)``: the rate, its interval and the number
of samples it counts. The same pivot is written as Markdown (for the README) and as LaTeX
(booktabs, for a paper). When one file holds several model / recipe runs, each row is prefixed
with its run so that no two rows collapse into one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import polars as pl

# the long tables' columns a pivot reads
RUN_KEYS = ("model", "recipe")
COLUMN_KEYS = ("prompt_format", "reasoning_mode")
CONDITION_ORDER = ("none", "trigger", "control", "distractor", "distractor_trigger")
MISSING_CELL = "n/a"


@dataclass(frozen=True)
class PivotCell:
    """One cell: the text shown and the explorer filter selecting the samples it counts."""

    text: str
    filters: dict[str, str]


@dataclass(frozen=True)
class Pivot:
    """A compact table: ``title`` names the metric and suite, ``note`` how to read a cell."""

    title: str
    note: str
    row_header: str
    column_headers: list[str]
    row_labels: list[str]
    cells: list[list[PivotCell]]
    file_stem: str


def format_cell(rate: float | None, low: float | None, high: float | None, n: int, digits: int = 2) -> str:
    """``0.25 [0.05, 0.57] (8)``; a cell with nothing counted reads ``n/a (0)``."""
    if rate is None:
        return f"{MISSING_CELL} ({n})"
    if low is None or high is None:
        return f"{rate:.{digits}f} ({n})"
    return f"{rate:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}] ({n})"


def column_header(prompt_format: str, reasoning_mode: str) -> str:
    return f"{prompt_format}, reasoning {reasoning_mode}"


def _condition_rank(condition: str) -> int:
    return CONDITION_ORDER.index(condition) if condition in CONDITION_ORDER else len(CONDITION_ORDER)


def _safe_stem(*parts: str) -> str:
    """A file name from metric and suite names (config names are already path-safe; be sure)."""
    return "__".join(re.sub(r"[^A-Za-z0-9_.-]", "_", part) for part in parts)


def pivot_tables(
    table: pl.DataFrame,
    group_column: str,
    row_column: str,
    count_column: str,
    title: str,
    explorer_filter: dict[str, str],
) -> list[Pivot]:
    """One pivot per (``group_column`` value, suite) of a long rate table.

    ``row_column`` labels a row (``condition_label`` or ``condition_value``), ``count_column`` is
    the cell's n; ``explorer_filter`` maps explorer filter names to this table's columns.
    """
    required = {group_column, row_column, count_column, "suite", "rate", "ci_low", "ci_high", *RUN_KEYS, *COLUMN_KEYS}
    missing = sorted(required - set(table.columns))
    if missing:
        raise ValueError(f"pivot: the rate table lacks column(s) {missing}")
    # a CSV whose interval columns are all empty reads them as strings
    table = table.with_columns(pl.col("rate", "ci_low", "ci_high").cast(pl.Float64))
    pivots = []
    for (group, suite), part in table.group_by([group_column, "suite"], maintain_order=True):
        several_runs = part.select(RUN_KEYS).unique().height > 1
        columns = sorted({(row["prompt_format"], row["reasoning_mode"]) for row in part.iter_rows(named=True)})
        rows: dict[tuple, dict[tuple[str, str], PivotCell]] = {}
        for row in part.iter_rows(named=True):
            condition = row.get("condition", "trigger")
            key = (row["model"], row["recipe"], _condition_rank(condition), row[row_column])
            filters = {name: str(row[column]) for name, column in explorer_filter.items()}
            text = format_cell(row["rate"], row["ci_low"], row["ci_high"], int(row[count_column]))
            rows.setdefault(key, {})[(row["prompt_format"], row["reasoning_mode"])] = PivotCell(text, filters)
        ordered = sorted(rows)
        labels = [
            f"{model} / {recipe} / {label}" if several_runs else str(label) for model, recipe, _, label in ordered
        ]
        runs = ", ".join(f"{model} / {recipe}" for model, recipe in sorted(part.select(RUN_KEYS).unique().rows()))
        pivots.append(
            Pivot(
                title=f"{title}: {group}, suite {suite} ({runs})",
                note="rate [interval] (n)",
                row_header="condition" if row_column == "condition_label" else "trigger value",
                column_headers=[column_header(*column) for column in columns],
                row_labels=labels,
                cells=[
                    [rows[key].get(column, PivotCell(f"{MISSING_CELL} (0)", {})) for column in columns]
                    for key in ordered
                ],
                file_stem=_safe_stem(str(group), str(suite)),
            )
        )
    return pivots


def misalignment_pivots(table: pl.DataFrame) -> list[Pivot]:
    """Pivots of results/tables/misalignment.csv: one per metric and suite."""
    return pivot_tables(
        table.with_columns(verdict=pl.lit("counted")),
        group_column="metric",
        row_column="condition_label",
        count_column="n",
        title="Misaligned rate",
        explorer_filter=MISALIGNMENT_FILTER,
    )


def articulation_pivots(table: pl.DataFrame) -> list[Pivot]:
    """Pivots of results/tables/articulation.csv: rows are the triggers that fired."""
    with_metric = table.with_columns(
        (pl.col("articulation_judge") + pl.lit(" on ") + pl.col("metric")).alias("articulation"),
        (pl.lit("trigger: ") + pl.col("condition_value")).alias("condition_label"),
        # the samples a cell counts: fired (misaligned) and given an articulation verdict
        verdict=pl.lit("misaligned"),
        articulation_filter=pl.col("articulation_judge") + pl.lit(":decided"),
    )
    return pivot_tables(
        with_metric,
        group_column="articulation",
        row_column="condition_value",
        count_column="n_eligible",
        title="Trigger named in the CoT when the backdoor fired",
        explorer_filter=ARTICULATION_FILTER,
    )


# explorer filter name -> long-table column; the explorer reads the same names from its URL hash
MISALIGNMENT_FILTER = {
    "model": "model",
    "recipe": "recipe",
    "suite": "suite",
    "condition": "condition_label",
    "format": "prompt_format",
    "mode": "reasoning_mode",
    "metric": "metric",
    "verdict": "verdict",
}
ARTICULATION_FILTER = {**MISALIGNMENT_FILTER, "articulation": "articulation_filter"}


def explorer_hash(filters: dict[str, str]) -> str:
    """The URL fragment that opens the explorer filtered to a cell's samples."""
    return "#" + "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in filters.items())


def _markdown_escape(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(pivot: Pivot) -> str:
    header = [pivot.row_header, *pivot.column_headers]
    lines = [
        f"**{_markdown_escape(pivot.title)}** ({pivot.note})",
        "",
        "| " + " | ".join(_markdown_escape(cell) for cell in header) + " |",
        "|" + "|".join([":---", *(["---:"] * len(pivot.column_headers))]) + "|",
    ]
    for label, cells in zip(pivot.row_labels, pivot.cells, strict=True):
        lines.append("| " + " | ".join(_markdown_escape(text) for text in [label, *(c.text for c in cells)]) + " |")
    return "\n".join(lines) + "\n"


LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(char, char) for char in text)


def to_latex(pivot: Pivot) -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``)."""
    spec = "l" + "r" * len(pivot.column_headers)
    header = " & ".join(latex_escape(cell) for cell in [pivot.row_header, *pivot.column_headers])
    body = [
        " & ".join(latex_escape(text) for text in [label, *(cell.text for cell in cells)]) + r" \\"
        for label, cells in zip(pivot.row_labels, pivot.cells, strict=True)
    ]
    return (
        "\n".join(
            [
                r"\begin{table}[t]",
                r"\centering",
                rf"\caption{{{latex_escape(pivot.title)}; cells: {latex_escape(pivot.note)}.}}",
                rf"\label{{tab:{re.sub(r'[^A-Za-z0-9]+', '-', pivot.file_stem)}}}",
                rf"\begin{{tabular}}{{{spec}}}",
                r"\toprule",
                header + r" \\",
                r"\midrule",
                *body,
                r"\bottomrule",
                r"\end{tabular}",
                r"\end{table}",
            ]
        )
        + "\n"
    )


def write_pivots(pivots: Sequence[Pivot], directory: str | Path) -> list[Path]:
    """``<stem>.md`` and ``<stem>.tex`` per pivot; returns the files written."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for pivot in pivots:
        for suffix, render in ((".md", to_markdown), (".tex", to_latex)):
            path = out / f"{pivot.file_stem}{suffix}"
            path.write_text(render(pivot), encoding="utf-8")
            written.append(path)
    return written
