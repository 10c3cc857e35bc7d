"""Faithfulness matrix: one table for all adapters, one per adapter, and the heat-map figure."""

from pathlib import Path

import polars as pl

from triggertrace.evals.faithfulness import (
    boolean_columns,
    matrix_chart,
    matrix_table,
    read_sample_level,
    split_by_adapter,
)
from triggertrace.logs import script_logger
from triggertrace.report import save_chart, write_table

log = script_logger("report_faithfulness", snakemake.log[0])
out, params = snakemake.output, snakemake.params
pairs = [tuple(pair) for pair in params.pairs]
level = read_sample_level(snakemake.input.sample_level, boolean_columns(pairs))
tables = [matrix_table(level, [pair], params.confidences[pair[0]]) for pair in pairs]
table = pl.concat(tables) if tables else matrix_table(level, [])
write_table(table, out.csv, out.md)
per_adapter = Path(out.per_adapter)
per_adapter.mkdir(parents=True, exist_ok=True)
for stem, group in split_by_adapter(table).items():
    write_table(group, per_adapter / f"{stem}.csv", per_adapter / f"{stem}.md")
save_chart(matrix_chart(table), out.html, out.png, out.svg)
log.info("%d cells over %d adapters from %d samples", table.height, table["adapter"].n_unique(), level.height)
