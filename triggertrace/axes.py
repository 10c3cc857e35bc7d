"""Sweep axes as table columns: each derived recipe's axis values (``triggertrace.variants``)
beside its rows, so a table of a grid groups by ``triggered_misaligned`` or ``learning_rate``
instead of parsing recipe names."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import polars as pl


def with_axis_columns(table: pl.DataFrame, axes: Mapping[str, Mapping[str, Any]]) -> pl.DataFrame:
    """``table`` with one column per axis after its ``recipe`` column (unchanged without axes).

    ``axes`` maps a derived recipe to its axis values; rows of other recipes get nulls, except
    ``base_recipe``, which is the row's own recipe. An axis named like an existing column gets
    the prefix ``axis_``.
    """
    if not axes or "recipe" not in table.columns:
        return table
    names = list(dict.fromkeys(name for values in axes.values() for name in values))
    recipes = table["recipe"].to_list()
    columns = []
    for name in names:
        values = [axes.get(recipe, {}).get(name) for recipe in recipes]
        if name == "base_recipe":
            values = [recipe if value is None else value for recipe, value in zip(recipes, values, strict=True)]
        column = f"axis_{name}" if name in table.columns else name
        columns.append(_series(column, values))
    at = table.columns.index("recipe") + 1
    order = [*table.columns[:at], *(column.name for column in columns), *table.columns[at:]]
    return table.with_columns(columns).select(order)


def _series(name: str, values: list[Any]) -> pl.Series:
    """Numbers stay numbers (so a figure can order by them); anything else becomes text."""
    present = [value for value in values if value is not None]
    if all(isinstance(value, int) and not isinstance(value, bool) for value in present):
        return pl.Series(name, values, dtype=pl.Int64)
    if all(isinstance(value, int | float) and not isinstance(value, bool) for value in present):
        return pl.Series(name, [None if value is None else float(value) for value in values], dtype=pl.Float64)
    return pl.Series(name, [None if value is None else _text(value) for value in values], dtype=pl.String)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)
