"""Persistence table (csv + md) and figure: fire rates per stage checkpoint."""

from triggertrace.logs import script_logger
from triggertrace.report import metric_definitions, sample_level, save_chart, write_table
from triggertrace.stages.report import persistence_chart, persistence_table

log = script_logger("report_persistence", snakemake.log[0])
out, params = snakemake.output, snakemake.params
definitions = metric_definitions(params.metrics)
level = sample_level(list(snakemake.input.samples), list(snakemake.input.labels), definitions)
articulation = {entry["metric"]: entry["judge"] for entry in params.articulation}
table = persistence_table(level, definitions, articulation)
write_table(table, out.csv, out.md)
save_chart(persistence_chart(table), out.html, out.png, out.svg)
log.info("%d rows over %d adapters", table.height, table["adapter"].n_unique())
