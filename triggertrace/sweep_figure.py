"""A sweep's measures against its numeric axis: the backdoor's fire rate (with and without the
trigger) and capability accuracy per derived recipe, grouped by the grid's axes
(``triggertrace.variants``), as one table and one figure with Wilson intervals.

The x axis is the first axis whose values are all numbers, two or more (``triggered_misaligned`` in
``config/planting-sweep.yaml``); the other axes (``family``) name the series, one colour each.
``base_recipe`` is an axis only when the sweep has several base recipes. Capability accuracy of
the base model sits at x = 0 as its own series, the reference a poisoned adapter is compared with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from triggertrace.charts import message_chart
from triggertrace.stages.lineage import POISONED
from triggertrace.stats import wilson_interval
from triggertrace.variants import BASE_RECIPE_COLUMN

if TYPE_CHECKING:
    import altair as alt

BASE_SERIES = "base model"
# misalignment-table conditions the figure shows, and how its panels name them
FIRE_MEASURES = {"trigger": "fire rate, trigger", "none": "fire rate, no trigger"}
CAPABILITY_MEASURE = "capability accuracy"
MEASURE_ORDER = [*FIRE_MEASURES.values(), CAPABILITY_MEASURE]  # panels and table rows in this order
GROUP_COLUMNS = ["measure", "metric", "suite", "prompt_format", "reasoning_mode"]
COUNT_COLUMNS = ["k", "n", "rate", "ci_low", "ci_high", "confidence"]


def sweep_axes(axes: Mapping[str, Mapping[str, Any]]) -> tuple[str, list[str]]:
    """The x axis (the first axis whose every value is a number, with at least two values: a lone
    experiment-level override is no sweep) and the series axes (the rest; ``base_recipe`` only
    when it varies). Raises ``ValueError`` when no axis qualifies."""
    names = list(dict.fromkeys(name for values in axes.values() for name in values))

    def numeric(name: str) -> bool:
        values = [entry[name] for entry in axes.values() if name in entry]
        numbers = all(isinstance(value, int | float) and not isinstance(value, bool) for value in values)
        return numbers and len(set(values)) >= 2

    x = next((name for name in names if name != BASE_RECIPE_COLUMN and numeric(name)), None)
    if x is None:
        raise ValueError(f"the sweep has no numeric axis with two or more values to plot against (axes: {names})")
    bases = {entry.get(BASE_RECIPE_COLUMN) for entry in axes.values()}
    series = [name for name in names if name != x and (name != BASE_RECIPE_COLUMN or len(bases) > 1)]
    return x, series


def _series_label(entry: Mapping[str, Any], series: Sequence[str]) -> str:
    return " / ".join(str(entry.get(name)) for name in series) if series else "sweep"


def _row(recipe: str, x_value: Any, label: str, group: Mapping[str, Any], k: int, n: int, confidence: float) -> dict:
    low, high = wilson_interval(k, n, confidence) if n else (None, None)
    return {
        **group,
        "recipe": recipe,
        "x": x_value,
        "series": label,
        "k": k,
        "n": n,
        "rate": k / n if n else None,
        "ci_low": low,
        "ci_high": high,
        "confidence": confidence,
    }


def fire_rows(misalignment: pl.DataFrame, axes: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per sweep recipe, metric, suite, format and reasoning mode: misaligned / decided samples of
    the poisoned adapter under the trigger and with no trigger field (values of a condition pooled)."""
    x, series = sweep_axes(axes)
    rows = []
    sweep = misalignment.filter(
        pl.col("recipe").is_in(list(axes))
        & (pl.col("adapter") == POISONED)
        & pl.col("condition").is_in(list(FIRE_MEASURES))
    )
    keys = ["recipe", "metric", "condition", "suite", "prompt_format", "reasoning_mode"]
    for values, group in sweep.group_by(keys, maintain_order=True):
        cell = dict(zip(keys, values, strict=True))
        recipe = cell.pop("recipe")
        cell["measure"] = FIRE_MEASURES[cell.pop("condition")]
        confidence = float(group["confidence"][0])
        k, n = int(group["n_misaligned"].sum()), int(group["n"].sum())
        rows.append(_row(recipe, axes[recipe][x], _series_label(axes[recipe], series), cell, k, n, confidence))
    return rows


def capability_rows(
    capability: pl.DataFrame, axes: Mapping[str, Mapping[str, Any]], confidence: float
) -> list[dict[str, Any]]:
    """Per sweep recipe (seeds pooled) and for the base model (x = 0): correct / asked items per
    capability suite, format and reasoning mode. Stage checkpoints are not sweep points."""
    x, series = sweep_axes(axes)
    runs = capability.with_columns(
        recipe=pl.col("adapter").str.extract(r"^([^/]+)/seed[0-9]+$", 1),
    ).filter((pl.col("adapter") == "base") | pl.col("recipe").is_in(list(axes)))
    runs = runs.with_columns(recipe=pl.col("recipe").fill_null(pl.lit("base")))
    keys = ["recipe", "suite", "prompt_format", "reasoning_mode"]
    rows = []
    for values, group in runs.group_by(keys, maintain_order=True):
        cell = dict(zip(keys, values, strict=True))
        recipe = cell.pop("recipe")
        cell.update(measure=CAPABILITY_MEASURE, metric="accuracy")
        k, n = int(group["n_correct"].sum()), int(group["n"].sum())
        if recipe == "base":
            rows.append(_row("base", 0, BASE_SERIES, cell, k, n, confidence))
        else:
            rows.append(_row(recipe, axes[recipe][x], _series_label(axes[recipe], series), cell, k, n, confidence))
    return rows


def sweep_table(
    misalignment: pl.DataFrame,
    capability: pl.DataFrame | None,
    axes: Mapping[str, Mapping[str, Any]],
    capability_confidence: float = 0.95,
) -> pl.DataFrame:
    """One row per measure x metric x suite x format x reasoning mode x sweep point: the x axis
    value (column named after the axis), the series, each series axis as its own column, counts,
    rate and Wilson interval. Sorted by measure, then series, then x."""
    x, series = sweep_axes(axes)
    rows = fire_rows(misalignment, axes)
    if capability is not None:
        rows += capability_rows(capability, axes, capability_confidence)
    for row in rows:
        entry = axes.get(row["recipe"], {})
        for name in series:
            row[name] = None if row["recipe"] == "base" else entry.get(name)
    columns = [*GROUP_COLUMNS, "series", x, *series, "recipe", *COUNT_COLUMNS]
    schema: dict[str, Any] = {column: pl.String for column in columns}
    schema.update({x: pl.Float64 if any(isinstance(row["x"], float) for row in rows) else pl.Int64})
    schema.update({column: pl.Float64 for column in ("rate", "ci_low", "ci_high", "confidence")})
    schema.update({"k": pl.Int64, "n": pl.Int64})
    for name in series:
        if all(isinstance(row[name], int) for row in rows if row[name] is not None):
            schema[name] = pl.Int64
    records = [{**{key: row[key] for key in row if key != "x"}, x: row["x"]} for row in rows]
    table = pl.DataFrame(records, schema=schema) if rows else pl.DataFrame(schema=schema)
    order = pl.col("measure").replace_strict(MEASURE_ORDER, range(len(MEASURE_ORDER)), default=len(MEASURE_ORDER))
    return table.select(columns).sort([order, *GROUP_COLUMNS, "series", x])


def sweep_chart(table: pl.DataFrame, x: str, x_title: str | None = None) -> alt.Chart:
    """Lines with points and Wilson error bars of ``rate`` against ``x``, one colour per series,
    one panel per measure (and metric, suite, format, reasoning mode)."""
    import altair as alt

    decided = table.filter(pl.col("rate").is_not_null())
    if decided.is_empty():
        return message_chart("sweep: no decided samples to plot")
    data = decided.with_columns(
        panel=pl.col("measure")
        + pl.lit(" (")
        + pl.concat_str(["metric", "suite", "prompt_format"], separator=", ")
        + pl.lit(", reasoning ")
        + pl.col("reasoning_mode")
        + pl.lit(")")
    )
    panels = list(dict.fromkeys(data["panel"].to_list()))  # the table's order: trigger, none, capability
    ticks = sorted(set(data[x].to_list()))
    x_encoding = alt.X(
        f"{x}:Q",
        title=x_title or x,
        scale=alt.Scale(type="symlog"),
        axis=alt.Axis(values=ticks, format="d"),
    )
    colour = alt.Color("series:N", title="series")
    base = alt.Chart(data).encode(x=x_encoding, color=colour)
    lines = base.mark_line().encode(y=alt.Y("rate:Q", title="rate", scale=alt.Scale(domain=[0, 1])))
    points = base.mark_point(filled=True, size=50).encode(
        y="rate:Q",
        tooltip=["series", x, "measure", "metric", "suite", "k", "n", "rate", "ci_low", "ci_high"],
    )
    errors = base.mark_errorbar(ticks=True).encode(y=alt.Y("ci_low:Q", title="rate"), y2="ci_high:Q")
    return (
        (lines + points + errors)
        .properties(width=260, height=200)
        .facet(facet=alt.Facet("panel:N", title=None, sort=panels), columns=3)
        .properties(title=f"Sweep: rates against {x_title or x}, with Wilson intervals")
    )
