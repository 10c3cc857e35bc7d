"""A sweep's fire rates and capability accuracy against its numeric axis: table (csv + md) and figure."""

import polars as pl

from triggertrace.logs import script_logger
from triggertrace.report import save_chart, write_table
from triggertrace.sweep_figure import sweep_axes, sweep_chart, sweep_table

log = script_logger("report_sweep_figure", snakemake.log[0])
out, params = snakemake.output, snakemake.params
misalignment = pl.read_csv(snakemake.input.misalignment)
capability = pl.read_csv(snakemake.input.capability) if snakemake.input.get("capability") else None
table = sweep_table(misalignment, capability, params.axes, params.capability_confidence)
write_table(table, out.csv, out.md)
x, series = sweep_axes(params.axes)
save_chart(sweep_chart(table, x), out.html, out.png, out.svg)
log.info("%d table rows; x axis %s, series %s", table.height, x, ", ".join(series) or "-")
