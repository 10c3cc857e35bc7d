"""The trace explorer: one self-contained HTML file per run, built from samples and labels.

It opens from disk with no server and no network: the page's JavaScript and CSS
(``triggertrace/explorer_assets/``) and the data (one JSON document) are inlined. The page filters
samples by model / adapter / suite / condition / prompt format / reasoning mode / label, shows a
sample's prompt with the trigger highlighted, its CoT and answer apart with the trigger-naming
span highlighted in the CoT, every judge's label and raw output, and the same prompt under every
condition side by side. Its summary tables are the paper pivots (``triggertrace.tables``), and
each cell links (URL hash) to the explorer filtered to the samples that cell counts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from triggertrace.metrics import MetricDefinition, apply_metric
from triggertrace.records import SAMPLE_DESCRIPTION_FIELDS
from triggertrace.tables import Pivot, articulation_pivots, explorer_hash, misalignment_pivots

ASSETS = Path(__file__).with_name("explorer_assets")
ASSET_FILES = ("template.html", "explorer.css", "explorer.js")
# the sample fields the page shows (the rest of a sample row stays in the sample files)
SAMPLE_FIELDS = (
    *SAMPLE_DESCRIPTION_FIELDS,
    "user_prompt",
    "reasoning",
    "answer",
    "reasoning_closed",
    "completion_tokens",
)
# a sample's twins under the other conditions share these fields
TWIN_KEYS = ("model", "recipe", "seed", "suite", "prompt_id", "prompt_format", "reasoning_mode", "sample_index")


def condition_label(condition: str, value: str) -> str:
    """``none`` or ``trigger: Singapore``, as in the tables' ``condition_label``."""
    return "none" if condition == "none" else f"{condition}: {value}"


def metric_verdict(verdict: Mapping[str, Any]) -> str:
    """``misaligned`` / ``aligned`` for a counted row, else why it was not counted."""
    if verdict["reason"] != "counted":
        return str(verdict["reason"])
    return "misaligned" if verdict["misaligned"] else "aligned"


def explorer_samples(
    samples: Sequence[Mapping[str, Any]],
    labels_by_judge: Mapping[str, Sequence[Mapping[str, Any]]],
    definitions: Sequence[MetricDefinition],
    trigger_aliases: Mapping[str, Sequence[str]] | None = None,
) -> list[dict[str, Any]]:
    """One record per sample: the fields shown, every judge's full label, every metric's verdict,
    the words whose presence in the CoT names the trigger, and the key of its twins."""
    sample_ids = [row["sample_id"] for row in samples]
    known = set(sample_ids)
    for judge, rows in labels_by_judge.items():
        orphans = sum(row["sample_id"] not in known for row in rows)
        if orphans:
            raise ValueError(f"{orphans} label rows of judge {judge} match no sample; rerun sampling and labels")
    by_judge = {judge: {row["sample_id"]: row for row in rows} for judge, rows in sorted(labels_by_judge.items())}
    all_labels = {judge: list(rows) for judge, rows in labels_by_judge.items()}
    verdicts = {
        definition.name: dict(zip(sample_ids, apply_metric(definition, sample_ids, all_labels), strict=True))
        for definition in definitions
    }
    aliases = trigger_aliases or {}
    records = []
    for row in samples:
        sample_id = row["sample_id"]
        value = row["condition_value"]
        records.append(
            {
                "id": sample_id,
                **{field: row.get(field) for field in SAMPLE_FIELDS},
                "condition_label": condition_label(row["condition"], value),
                "twins": "|".join(str(row[key]) for key in TWIN_KEYS),
                "names": [value, *aliases.get(value, [])] if value else [],
                "judges": {judge: rows[sample_id] for judge, rows in by_judge.items() if sample_id in rows},
                "metrics": {name: metric_verdict(verdicts[name][sample_id]) for name in verdicts},
            }
        )
    return records


def pivot_json(pivot: Pivot) -> dict[str, Any]:
    return {
        "title": pivot.title,
        "note": pivot.note,
        "row_header": pivot.row_header,
        "column_headers": pivot.column_headers,
        "rows": [
            {"label": label, "cells": [{"text": cell.text, "hash": explorer_hash(cell.filters)} for cell in cells]}
            for label, cells in zip(pivot.row_labels, pivot.cells, strict=True)
        ],
    }


def summary_tables(misalignment: pl.DataFrame, articulation: pl.DataFrame) -> list[dict[str, Any]]:
    """The paper pivots with a link per cell."""
    return [pivot_json(pivot) for pivot in [*misalignment_pivots(misalignment), *articulation_pivots(articulation)]]


def _inline_json(document: Any) -> str:
    """JSON safe inside a <script> element: no ``</script>`` or ``<!--`` can end it early."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).replace("<", "\\u003c")


def render_html(title: str, records: Sequence[Mapping[str, Any]], tables: Sequence[Mapping[str, Any]]) -> str:
    """The page: template with the CSS, the data and the JS inlined."""
    assets = {name: (ASSETS / name).read_text(encoding="utf-8") for name in ASSET_FILES}
    data = {"title": title, "samples": list(records), "tables": list(tables)}
    page = assets["template.html"]
    # the data last: nothing after it is searched for a marker
    for marker, text in (
        ("__TITLE__", title.replace("&", "&amp;").replace("<", "&lt;")),
        ("/*__CSS__*/", assets["explorer.css"]),
        ("/*__JS__*/", assets["explorer.js"]),
        ("__DATA__", _inline_json(data)),
    ):
        if marker not in page:
            raise ValueError(f"{ASSETS / 'template.html'}: marker {marker} missing")
        page = page.replace(marker, text, 1)
    return page


def write_explorer(
    path: str | Path,
    title: str,
    records: Sequence[Mapping[str, Any]],
    tables: Sequence[Mapping[str, Any]],
) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(title, records, tables), encoding="utf-8")
