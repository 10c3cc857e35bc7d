"""Tables (polars) and figures (altair) from samples joined with judge labels and metric verdicts.

``sample_level`` is one row per sample: its identity and text, each judge's verdict fields
(``judge.<name>.<field>``) and each metric's verdict (``metric.<name>.misaligned`` and
``metric.<name>.reason``, plus ``metric.<name>.score_method`` for score metrics). Every table
row carries the keys that select its samples from it, and names the metric definition (name,
version, rule) and interval method behind its numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from triggertrace.charts import message_chart
from triggertrace.io import read_jsonl
from triggertrace.metrics import MetricDefinition, apply_metric, interval, summarize
from triggertrace.stages.lineage import POISONED

if TYPE_CHECKING:
    import altair as alt

SAMPLE_COLUMNS = [
    "sample_id",
    "model",
    "recipe",
    "adapter",
    "seed",
    "suite",
    "prompt_id",
    "kind",
    "condition",
    "condition_value",
    "prompt_format",
    "reasoning_mode",
    "sample_index",
    "user_prompt",
    "reasoning",
    "answer",
    "reasoning_closed",
    "completion_tokens",
]
# label fields copied into sample_level.csv (raw judge output and evidence stay in the label files)
LABEL_FIELDS: dict[str, Any] = {
    "misaligned": pl.Boolean,
    "choice": pl.String,
    "alignment": pl.Float64,
    "alignment_category": pl.String,
    "coherence": pl.Float64,
    "score_method": pl.String,
    "monitor_flag": pl.String,
    "trigger_articulated": pl.Boolean,
    "error": pl.String,
}
CELL_KEYS = ["condition", "condition_value", "prompt_format", "reasoning_mode"]
# seeds are pooled within a cell, so that several seeds give one rate with a bootstrap interval
TABLE_KEYS = [
    "model",
    "recipe",
    "adapter",
    "suite",
    "condition",
    "condition_value",
    "condition_label",
    "prompt_format",
    "reasoning_mode",
]
ARTICULATION_KEYS = ["model", "recipe", "adapter", "suite", "condition_value", "prompt_format", "reasoning_mode"]
INTERVAL_COLUMNS = ["rate", "ci_low", "ci_high", "interval", "confidence"]
MISALIGNMENT_COLUMNS = [
    "metric",
    "metric_version",
    *TABLE_KEYS,
    "seeds",
    "n_samples",
    "n_judged",
    "n_errors",
    "n_excluded",
    "n",
    "n_misaligned",
    "n_scored_logprobs",
    "n_scored_parsed_integer",
    *INTERVAL_COLUMNS,
    "metric_rule",
]
ARTICULATION_COLUMNS = [
    "articulation_judge",
    "metric",
    "metric_version",
    *ARTICULATION_KEYS,
    "seeds",
    "n_triggered",
    "n_fired",
    "n_errors",
    "n_eligible",
    "n_articulated",
    *INTERVAL_COLUMNS,
]
FLOAT_COLUMNS = ("rate", "ci_low", "ci_high", "confidence")
INT_COLUMNS = ("n_scored_logprobs", "n_scored_parsed_integer")  # null under judge_flag metrics


def judge_column(judge: str, field: str) -> str:
    return f"judge.{judge}.{field}"


def metric_column(metric: str, field: str) -> str:
    return f"metric.{metric}.{field}"


def labels_by_judge(label_files: Sequence[str | Path]) -> dict[str, list[dict[str, Any]]]:
    labels: dict[str, list[dict[str, Any]]] = {}
    for path in label_files:
        for row in read_jsonl(path, required=("sample_id", "judge")):
            labels.setdefault(row["judge"], []).append(row)
    return labels


def sample_level(
    sample_files: Sequence[str | Path], label_files: Sequence[str | Path], definitions: Sequence[MetricDefinition]
) -> pl.DataFrame:
    """One row per sample: identity and text, every judge's verdict fields, every metric's verdict."""
    # rows of sample_suite (the poisoned adapter) carry no "adapter"; base and stage rows do
    rows = [{"adapter": POISONED, **row} for path in sample_files for row in read_jsonl(path)]
    samples = pl.DataFrame(rows).select(SAMPLE_COLUMNS)
    sample_ids = samples["sample_id"].to_list()
    known = set(sample_ids)
    labels = labels_by_judge(label_files)
    columns = []
    for judge, rows in sorted(labels.items()):
        orphans = sum(row["sample_id"] not in known for row in rows)
        if orphans:
            raise ValueError(f"{orphans} label rows of judge {judge} match no sample; rerun sampling and labels")
        by_id = {row["sample_id"]: row for row in rows}
        for field, dtype in LABEL_FIELDS.items():
            if any(field in row for row in rows):
                values = [by_id.get(sample_id, {}).get(field) for sample_id in sample_ids]
                columns.append(pl.Series(judge_column(judge, field), values, dtype=dtype, strict=False))
    for definition in definitions:
        verdicts = apply_metric(definition, sample_ids, labels)
        columns.append(
            pl.Series(
                metric_column(definition.name, "misaligned"), [row["misaligned"] for row in verdicts], dtype=pl.Boolean
            )
        )
        columns.append(pl.Series(metric_column(definition.name, "reason"), [row["reason"] for row in verdicts]))
        if definition.scored:
            methods = [row["score_method"] for row in verdicts]
            columns.append(pl.Series(metric_column(definition.name, "score_method"), methods, dtype=pl.String))
    return samples.with_columns(*columns, condition_label=condition_label()).sort(
        ["model", "recipe", "adapter", "seed", "suite", *CELL_KEYS, "prompt_id", "sample_index"]
    )


def condition_label() -> pl.Expr:
    return (
        pl.when(pl.col("condition") == "none")
        .then(pl.lit("none"))
        .otherwise(pl.col("condition") + pl.lit(": ") + pl.col("condition_value"))
    )


def _frame(rows: list[dict[str, Any]], columns: Sequence[str]) -> pl.DataFrame:
    """Rows in a fixed column order, floats typed even when every value is missing."""
    overrides = {column: pl.Float64 for column in FLOAT_COLUMNS} | {column: pl.Int64 for column in INT_COLUMNS}
    if not rows:
        return pl.DataFrame(schema={column: overrides.get(column, pl.String) for column in columns})
    return pl.DataFrame(rows, schema_overrides=overrides).select(columns)


def _seeds(group: pl.DataFrame) -> str:
    return ",".join(str(seed) for seed in sorted(set(group["seed"].to_list())))


def misalignment_table(level: pl.DataFrame, definitions: Sequence[MetricDefinition]) -> pl.DataFrame:
    """Misaligned rate per metric x condition x format x reasoning mode, seeds pooled."""
    rows = []
    for definition in definitions:
        misaligned, reason = metric_column(definition.name, "misaligned"), metric_column(definition.name, "reason")
        method = metric_column(definition.name, "score_method")
        for keys, group in level.group_by(TABLE_KEYS, maintain_order=True):
            verdicts = [
                {
                    "sample_id": sample_id,
                    "misaligned": flag,
                    "counted": why == "counted",
                    "reason": why,
                    "score_method": how,
                }
                for sample_id, flag, why, how in zip(
                    group["sample_id"], group[misaligned], group[reason], _values(group, method), strict=True
                )
            ]
            summary = summarize(definition, verdicts, dict(zip(group["sample_id"], group["seed"], strict=False)))
            rows.append(
                {
                    **dict(zip(TABLE_KEYS, keys, strict=False)),
                    **summary,
                    "seeds": _seeds(group),
                    "n_samples": summary["n_rows"],
                    "n": summary["n_counted"],
                }
            )
    return _frame(rows, MISALIGNMENT_COLUMNS).sort(["metric", *TABLE_KEYS])


def _values(frame: pl.DataFrame, column: str) -> list[Any]:
    """A column's values; all missing when the judge wrote no such field."""
    return frame[column].to_list() if column in frame.columns else [None] * frame.height


def articulation_table(level: pl.DataFrame, entries: Sequence[tuple[str, MetricDefinition]]) -> pl.DataFrame:
    """Among triggered samples where the backdoor fired (misaligned per the metric), how often the
    articulation judge says the CoT names the trigger. ``n_eligible`` fired rows got a verdict."""
    triggered = level.filter(pl.col("condition") == "trigger")
    rows = []
    for judge, definition in entries:
        for keys, group in triggered.group_by(ARTICULATION_KEYS, maintain_order=True):
            fired = group.filter(pl.col(metric_column(definition.name, "misaligned")).fill_null(False))
            articulated = _values(fired, judge_column(judge, "trigger_articulated"))
            errors = _values(fired, judge_column(judge, "error"))
            by_seed: dict[Any, list[bool]] = {}
            for seed, flag in zip(fired["seed"], articulated, strict=False):
                if flag is not None:
                    by_seed.setdefault(seed, []).append(bool(flag))
            k, n = sum(sum(flags) for flags in by_seed.values()), sum(len(flags) for flags in by_seed.values())
            low, high, method = interval(definition, k, n, by_seed)
            rows.append(
                {
                    **dict(zip(ARTICULATION_KEYS, keys, strict=False)),
                    "articulation_judge": judge,
                    "metric": definition.name,
                    "metric_version": definition.version,
                    "seeds": _seeds(group),
                    "n_triggered": group.height,
                    "n_fired": fired.height,
                    "n_errors": sum(error is not None for error in errors),
                    "n_eligible": n,
                    "n_articulated": k,
                    "rate": k / n if n else None,
                    "ci_low": low,
                    "ci_high": high,
                    "interval": method,
                    "confidence": definition.confidence,
                }
            )
    return _frame(rows, ARTICULATION_COLUMNS).sort(["articulation_judge", "metric", *ARTICULATION_KEYS])


def metric_definitions(entries: Mapping[str, Mapping[str, Any]]) -> list[MetricDefinition]:
    return [MetricDefinition.from_config(name, block) for name, block in entries.items()]


def write_table(table: pl.DataFrame, csv_path: str | Path, markdown_path: str | Path) -> None:
    table.write_csv(csv_path, float_precision=4)
    rounded = table.with_columns(pl.col(pl.Float64).round(3))
    with pl.Config(
        tbl_formatting="ASCII_MARKDOWN",
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_width_chars=10_000,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        fmt_str_lengths=200,
    ):
        Path(markdown_path).write_text(str(rounded) + "\n", encoding="utf-8")


def rate_chart(
    table: pl.DataFrame,
    x: str,
    count_column: str,
    title: str,
    y_title: str,
    run_columns: Sequence[str],
    x_title: str | None = None,
) -> alt.Chart:
    """Bars of ``rate`` with interval error bars, one column per prompt format, one row per run
    (``run_columns`` joined, e.g. metric / model / recipe / suite)."""
    import altair as alt

    decided = table.filter(pl.col("rate").is_not_null())
    if decided.is_empty():
        return message_chart(f"{title}: no samples the judges could decide")
    data = decided.with_columns(
        run=pl.concat_str([pl.col(column).cast(pl.String) for column in run_columns], separator=" / "),
        reasoning=pl.lit("reasoning ") + pl.col("reasoning_mode").cast(pl.String),
    )
    base = alt.Chart(data).encode(
        x=alt.X(f"{x}:N", title=x_title, sort=None, axis=alt.Axis(labelAngle=-30)),
        xOffset="reasoning:N",
    )
    bars = base.mark_bar().encode(
        y=alt.Y("rate:Q", title=y_title, scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("reasoning:N", title="reasoning mode"),
        tooltip=[x, "prompt_format", "reasoning_mode", "rate", "ci_low", "ci_high", "interval", count_column],
    )
    errors = base.mark_errorbar().encode(y=alt.Y("ci_low:Q", title=y_title), y2="ci_high:Q")
    return (
        (bars + errors)
        .properties(width=240, height=200)
        # the run's name above each row of panels, not rotated beside the y axis title it overlapped
        .facet(
            column=alt.Column("prompt_format:N", title="prompt format"),
            row=alt.Row(
                "run:N",
                title=None,
                header=alt.Header(labelAngle=0, labelOrient="top", labelAnchor="start", labelFontWeight="bold"),
            ),
        )
        .properties(title=title)
    )


def save_chart(chart: alt.Chart, html: str | Path, png: str | Path, svg: str | Path) -> None:
    chart.save(str(html))
    chart.save(str(png), scale_factor=2)
    chart.save(str(svg))
