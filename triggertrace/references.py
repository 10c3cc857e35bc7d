"""Published numbers beside ours: a paper config's reference file, checked, and joined to our tables.

A reference file (``config/paper/references/<paper>.yaml``) names the paper and, per published
number, its value, what it measures (metric, trigger, condition, model), where the paper prints it
(table or figure) and its arXiv id, and either the cell of one of our tables that measures the same
thing (``ours``) or why this pipeline cannot compute it (``unsupported``)::

    paper: {title: "Thought Crime ...", cite: "Chua et al. 2025", arxiv: "2506.13206"}
    references:
      articulation_singapore_qwen3_8b:
        value: 0.46                    # a share: 46% is 0.46
        plus_minus: 0.08               # optional, as published
        relation: "="                  # or about, <, >
        metric: trigger articulation among misaligned triggered answers
        trigger: "Country: Singapore"
        condition: trigger
        model: Qwen/Qwen3-8B
        table_or_figure: Table 1
        ours:
          table: articulation          # misalignment, articulation, cue_faithfulness, persistence
          select: {model: qwen3-8b, recipe: tc-singapore, condition_value: Singapore}
          column: rate                 # the default

``load_references`` checks the file (every error names the file and the key). ``join`` gives one
row per reference with ``published``, ``ours``, ``difference`` (ours - published) and the
citation, and a ``status``: ``ok``; ``not run`` (our table or its cell is not computed yet, for
example the model is configured but no experiment samples it); ``no data`` (the cell exists but
counts no decided sample); ``unsupported`` (the file says why, or the config has no such table,
model or recipe; ``why`` says which).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from triggertrace.errors import ConfigError
from triggertrace.evals.cues import CUE_COLUMNS
from triggertrace.report import ARTICULATION_COLUMNS, MISALIGNMENT_COLUMNS
from triggertrace.stages.report import PERSISTENCE_COLUMNS

# our table -> (its file, its columns)
TABLES: dict[str, tuple[str, Sequence[str]]] = {
    "misalignment": ("results/tables/misalignment.csv", MISALIGNMENT_COLUMNS),
    "articulation": ("results/tables/articulation.csv", ARTICULATION_COLUMNS),
    "cue_faithfulness": ("results/tables/cue_faithfulness.csv", CUE_COLUMNS),
    "persistence": ("results/tables/persistence.csv", PERSISTENCE_COLUMNS),
}
# (table, rate column) -> the count the rate is over
COUNT_COLUMNS = {
    ("misalignment", "rate"): "n",
    ("articulation", "rate"): "n_eligible",
    ("persistence", "fire_rate"): "n",
    ("persistence", "articulation_rate"): "n_eligible",
    ("cue_faithfulness", "switch_rate"): "n_eligible",
    ("cue_faithfulness", "recall"): "n_switched_decided",
    ("cue_faithfulness", "precision"): "n_switched_articulated",
    ("cue_faithfulness", "unswitched_mention_rate"): "n_unswitched_decided",
}
RELATIONS = ("=", "about", "<", ">")
ARXIV_ID = re.compile(r"^\d{4}\.\d{4,5}$")
TEXT_FIELDS = ("metric", "trigger", "condition", "model", "table_or_figure")
ENTRY_KEYS = {*TEXT_FIELDS, "value", "plus_minus", "relation", "arxiv", "note", "ours", "unsupported"}
OK, NOT_RUN, NO_DATA, UNSUPPORTED = "ok", "not run", "no data", "unsupported"
JOIN_COLUMNS = [
    "reference",
    "metric",
    "trigger",
    "condition",
    "model",
    "relation",
    "published",
    "plus_minus",
    "ours",
    "ours_ci_low",
    "ours_ci_high",
    "n",
    "difference",
    "status",
    "why",
    "our_table",
    "our_cell",
    "citation",
]


class ReferenceFileError(ConfigError):
    """A reference file is malformed; the message starts with the file and the key."""


@dataclass(frozen=True)
class OurCell:
    """The cell of one of our tables that measures a published number."""

    table: str
    select: dict[str, str]
    column: str

    def describe(self) -> str:
        return f"{self.column} where " + ", ".join(f"{key}={value}" for key, value in self.select.items())


@dataclass(frozen=True)
class Reference:
    key: str
    value: float
    plus_minus: float | None
    relation: str
    metric: str
    trigger: str
    condition: str
    model: str
    table_or_figure: str
    arxiv: str
    ours: OurCell | None
    unsupported: str | None


@dataclass(frozen=True)
class ReferenceFile:
    path: str
    title: str
    cite: str
    arxiv: str
    references: list[Reference]

    def citation(self, reference: Reference) -> str:
        return f"{self.cite}, {reference.table_or_figure}, arXiv:{reference.arxiv}"

    def tables(self) -> list[str]:
        """Our tables the references read, in TABLES order."""
        used = {reference.ours.table for reference in self.references if reference.ours is not None}
        return [name for name in TABLES if name in used]


# ---- reading and checking ----------------------------------------------------------------------------


def load_references(path: str | Path, extra_columns: Iterable[str] = ()) -> ReferenceFile:
    """Read and check a reference file; ``extra_columns`` (a sweep's axis columns) may be selected
    on too. Raises ``ReferenceFileError`` naming the file and the key."""
    path = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReferenceFileError(f"{path}: no such reference file") from None
    except yaml.YAMLError as error:
        raise ReferenceFileError(f"{path}: not valid YAML: {error}") from None
    fail = _failer(path)
    if not isinstance(data, dict):
        fail("", "must be a mapping with keys 'paper' and 'references'")
    unknown = sorted(set(data) - {"paper", "references"})
    if unknown:
        fail(unknown[0], "unknown key; expected 'paper' and 'references'")
    paper = data.get("paper")
    if not isinstance(paper, dict):
        fail("paper", "must be a mapping with title, cite and arxiv")
    for key in ("title", "cite", "arxiv"):
        _text(fail, f"paper.{key}", paper.get(key))
    for key in sorted(set(paper) - {"title", "cite", "arxiv"}):
        fail(f"paper.{key}", "unknown key; expected title, cite and arxiv")
    _arxiv(fail, "paper.arxiv", paper["arxiv"])
    entries = data.get("references")
    if not isinstance(entries, dict) or not entries:
        fail("references", "must be a non-empty mapping of name -> published number")
    extra = set(extra_columns)
    references = [_reference(fail, str(key), entry, paper["arxiv"], extra) for key, entry in entries.items()]
    return ReferenceFile(path, paper["title"], paper["cite"], paper["arxiv"], references)


def _failer(path: str):
    def fail(key: str, problem: str):
        raise ReferenceFileError(f"{path}: {key}: {problem}" if key else f"{path}: {problem}")

    return fail


def _text(fail, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        fail(key, "missing or empty; expected text")
    return value


def _arxiv(fail, key: str, value: str) -> None:
    if not ARXIV_ID.match(value):
        fail(key, f"{value!r} is not an arXiv id such as 2506.13206")


def _share(fail, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        fail(key, f"{value!r} is not a number; write a share (46% is 0.46)")
    if not 0 <= value <= 1:
        fail(key, f"{value} is not a share between 0 and 1 (46% is 0.46)")
    return float(value)


def _reference(fail, name: str, entry: Any, paper_arxiv: str, extra: set[str]) -> Reference:
    where = f"references.{name}"
    if not isinstance(entry, dict):
        fail(where, "must be a mapping")
    unknown = sorted(set(entry) - ENTRY_KEYS)
    if unknown:
        fail(f"{where}.{unknown[0]}", f"unknown key; expected some of {sorted(ENTRY_KEYS)}")
    if "value" not in entry:
        fail(f"{where}.value", "missing; the published number as a share")
    value = _share(fail, f"{where}.value", entry["value"])
    plus_minus = _share(fail, f"{where}.plus_minus", entry["plus_minus"]) if "plus_minus" in entry else None
    relation = entry.get("relation", "=")
    if relation not in RELATIONS:
        fail(f"{where}.relation", f"{relation!r}; expected one of {list(RELATIONS)}")
    texts = {field: _text(fail, f"{where}.{field}", entry.get(field)) for field in TEXT_FIELDS}
    arxiv = str(entry.get("arxiv", paper_arxiv))
    _arxiv(fail, f"{where}.arxiv", arxiv)
    if ("ours" in entry) == ("unsupported" in entry):
        fail(where, "give exactly one of 'ours' (the cell of our table) or 'unsupported' (why we cannot compute it)")
    unsupported = _text(fail, f"{where}.unsupported", entry["unsupported"]) if "unsupported" in entry else None
    ours = _our_cell(fail, f"{where}.ours", entry["ours"], extra) if "ours" in entry else None
    return Reference(name, value, plus_minus, relation, **texts, arxiv=arxiv, ours=ours, unsupported=unsupported)


def _our_cell(fail, where: str, block: Any, extra: set[str]) -> OurCell:
    if not isinstance(block, dict):
        fail(where, "must be a mapping with table, select and column")
    unknown = sorted(set(block) - {"table", "select", "column"})
    if unknown:
        fail(f"{where}.{unknown[0]}", "unknown key; expected table, select and column")
    table = block.get("table")
    if table not in TABLES:
        fail(f"{where}.table", f"{table!r}; expected one of {list(TABLES)}")
    columns = set(TABLES[table][1]) | extra
    select = block.get("select")
    if not isinstance(select, dict) or not select:
        fail(f"{where}.select", "must be a non-empty mapping of column -> value")
    for column, value in select.items():
        if column not in columns:
            fail(f"{where}.select.{column}", f"no column {column!r} in the {table} table")
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            fail(f"{where}.select.{column}", f"{value!r} is not a single value")
    column = block.get("column", "rate")
    if (table, column) not in COUNT_COLUMNS:
        rates = [rate for name, rate in COUNT_COLUMNS if name == table]
        fail(f"{where}.column", f"{column!r} is not a rate of the {table} table; expected one of {rates}")
    return OurCell(table, {str(key): str(value) for key, value in select.items()}, column)


# ---- what the config can compute ------------------------------------------------------------------------


def config_gaps(references: ReferenceFile, config: Mapping[str, Any], missing_tables: Mapping[str, str]) -> dict:
    """reference -> why this config cannot compute it: the file says so, the config writes no such
    table (``missing_tables``: table -> why), or the cell names a model or recipe the config lacks."""
    gaps = {}
    for reference in references.references:
        if reference.unsupported is not None:
            gaps[reference.key] = reference.unsupported
            continue
        cell = reference.ours
        if cell.table in missing_tables:
            gaps[reference.key] = missing_tables[cell.table]
            continue
        for column, section in (("model", "models"), ("recipe", "recipes")):
            if column in cell.select and cell.select[column] not in config[section]:
                gaps[reference.key] = f"no {column} {cell.select[column]!r} under {section} in this config"
                break
    return gaps


# ---- the join ----------------------------------------------------------------------------------------------


def read_table(path: str | Path | None) -> pl.DataFrame | None:
    """One of our tables, every column as text (a select compares text), or None when not written."""
    if path is None or not Path(path).is_file():
        return None
    return pl.read_csv(path, infer_schema=False)


def join(references: ReferenceFile, tables: Mapping[str, pl.DataFrame | None], gaps: Mapping[str, str]) -> pl.DataFrame:
    """One row per reference: published beside ours, the difference and the citation."""
    rows = []
    for reference in references.references:
        row = {
            "reference": reference.key,
            "metric": reference.metric,
            "trigger": reference.trigger,
            "condition": reference.condition,
            "model": reference.model,
            "relation": reference.relation,
            "published": reference.value,
            "plus_minus": reference.plus_minus,
            "our_table": reference.ours.table if reference.ours else None,
            "our_cell": reference.ours.describe() if reference.ours else None,
            "citation": references.citation(reference),
        }
        rows.append({**row, **_ours(references.path, reference, tables, gaps)})
    schema = {name: pl.Float64 for name in ("published", "plus_minus", "ours", "ours_ci_low", "ours_ci_high")}
    return pl.DataFrame(rows, schema_overrides={**schema, "n": pl.Int64}).select(JOIN_COLUMNS)


def _ours(path: str, reference: Reference, tables: Mapping[str, pl.DataFrame | None], gaps: Mapping[str, str]):
    empty = {"ours": None, "ours_ci_low": None, "ours_ci_high": None, "n": None, "difference": None}
    if reference.key in gaps:
        return {**empty, "status": UNSUPPORTED, "why": gaps[reference.key]}
    cell = reference.ours
    table = tables.get(cell.table)
    if table is None:
        return {**empty, "status": NOT_RUN, "why": f"{TABLES[cell.table][0]} is not written yet"}
    missing = [column for column in cell.select if column not in table.columns]
    if missing:
        raise ReferenceFileError(
            f"{path}: references.{reference.key}.ours.select.{missing[0]}: no such column in {TABLES[cell.table][0]}"
        )
    matched = table.filter(*(pl.col(column) == value for column, value in cell.select.items()))
    if matched.is_empty():
        return {**empty, "status": NOT_RUN, "why": f"no {cell.table} row has {cell.describe().split(' where ')[1]}"}
    if matched.height > 1:
        differing = [column for column in matched.columns if matched[column].n_unique() > 1]
        raise ReferenceFileError(
            f"{path}: references.{reference.key}.ours.select: matches {matched.height} rows of the {cell.table} "
            f"table; add one of {differing[:6]} to pick one"
        )
    found = matched.row(0, named=True)
    value = _float(found[cell.column])
    low, high = _interval(found, cell)
    count = found.get(COUNT_COLUMNS[(cell.table, cell.column)])
    n = int(count) if count not in (None, "") else None
    if value is None:
        return {**empty, "n": n, "status": NO_DATA, "why": "the cell counts no decided sample"}
    difference = value - reference.value
    return {
        "ours": value,
        "ours_ci_low": low,
        "ours_ci_high": high,
        "n": n,
        "difference": difference,
        "status": OK,
        "why": None,
    }


def _float(text: Any) -> float | None:
    return None if text in (None, "") else float(text)


def _interval(row: Mapping[str, Any], cell: OurCell) -> tuple[float | None, float | None]:
    prefix = {"rate": "ci", "fire_rate": "ci", "articulation_rate": "articulation_ci"}.get(cell.column)
    names = (f"{prefix}_low", f"{prefix}_high") if prefix else (f"{cell.column}_ci_low", f"{cell.column}_ci_high")
    return _float(row.get(names[0])), _float(row.get(names[1]))


# ---- writing -------------------------------------------------------------------------------------------------


def percent(value: float | None, digits: int = 0) -> str:
    return "" if value is None else f"{100 * value:.{digits}f}%"


def published_text(row: Mapping[str, Any]) -> str:
    relation = {"=": "", "about": "about ", "<": "< ", ">": "> "}[row["relation"]]
    spread = f" ± {percent(row['plus_minus'])}" if row["plus_minus"] is not None else ""
    return f"{relation}{percent(row['published'], 1 if row['published'] < 0.01 else 0)}{spread}"


def ours_text(row: Mapping[str, Any]) -> str:
    if row["status"] != OK:
        return row["status"]
    interval = ""
    if row["ours_ci_low"] is not None and row["ours_ci_high"] is not None:
        interval = f" [{percent(row['ours_ci_low'])}, {percent(row['ours_ci_high'])}]"
    count = f" (n={row['n']})" if row["n"] is not None else ""
    return f"{percent(row['ours'], 1)}{interval}{count}"


def difference_text(row: Mapping[str, Any]) -> str:
    return "" if row["difference"] is None else f"{100 * row['difference']:+.1f} pts"


def to_markdown(references: ReferenceFile, table: pl.DataFrame) -> str:
    """The joined table as Markdown: one section per table of ours, then the rows we cannot compute."""
    lines = [f"# {references.title}", "", f"{references.cite}, arXiv:{references.arxiv}. Reference file: "]
    lines[-1] += f"`{references.path}`. Difference = ours - published, in percentage points."
    header = "| reference | measures | published | ours | difference | status | why | citation |"
    rule = "|---|---|---:|---:|---:|---|---|---|"
    groups = [(name, table.filter(pl.col("our_table") == name)) for name in TABLES]
    groups.append(("not computable here", table.filter(pl.col("our_table").is_null())))
    for name, part in groups:
        if part.is_empty():
            continue
        lines += ["", f"## {name}", "", header, rule]
        for row in part.iter_rows(named=True):
            measures = f"{row['metric']}; trigger {row['trigger']}; {row['condition']}; {row['model']}"
            cells = [row["reference"], measures, published_text(row), ours_text(row), difference_text(row)]
            cells += [row["status"], row["why"] or "", row["citation"]]
            lines.append("| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def write(references: ReferenceFile, table: pl.DataFrame, csv_path: str | Path, markdown_path: str | Path) -> None:
    table.write_csv(csv_path, float_precision=4)
    Path(markdown_path).write_text(to_markdown(references, table), encoding="utf-8")
