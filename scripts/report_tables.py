"""Join samples with labels, apply the report's metric definitions and write the rate tables."""

from pathlib import Path

import polars as pl

from triggertrace.axes import with_axis_columns
from triggertrace.logs import script_logger
from triggertrace.report import articulation_table, metric_definitions, misalignment_table, sample_level, write_table
from triggertrace.tables import articulation_pivots, misalignment_pivots, write_pivots

log = script_logger("report_tables", snakemake.log[0])
out, params = snakemake.output, snakemake.params
definitions = metric_definitions(params.metrics)
by_name = {definition.name: definition for definition in definitions}
level = sample_level(list(snakemake.input.samples), list(snakemake.input.labels), definitions)
with_axis_columns(level, params.axes).write_csv(out.sample_level)
# a sweep's axis values as columns beside the recipe (none without a grid or variant)
table = with_axis_columns(misalignment_table(level, definitions), params.axes)
write_table(table, out.misalignment_csv, out.misalignment_md)
tables = Path(out.metric_tables)
tables.mkdir(parents=True, exist_ok=True)
for definition in definitions:
    write_table(
        table.filter(pl.col("metric") == definition.name),
        tables / f"{definition.name}.csv",
        tables / f"{definition.name}.md",
    )
entries = [(entry["judge"], by_name[entry["metric"]]) for entry in params.articulation]
articulation = with_axis_columns(articulation_table(level, entries), params.axes)
write_table(articulation, out.articulation_csv, out.articulation_md)
# paper-style pivots of the same numbers (rows: conditions; columns: format x reasoning mode)
paper = Path(out.paper_tables)
write_pivots(misalignment_pivots(table), paper / "misalignment")
write_pivots(articulation_pivots(articulation), paper / "articulation")
log.info("%d samples, metrics: %s", level.height, ", ".join(definition.describe() for definition in definitions))
