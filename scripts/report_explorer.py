"""The trace explorer: one self-contained HTML page of every sample, its labels and the summary tables."""

import polars as pl

from triggertrace.explorer import explorer_samples, summary_tables, write_explorer
from triggertrace.io import read_jsonl
from triggertrace.logs import script_logger
from triggertrace.report import labels_by_judge, metric_definitions

log = script_logger("report_explorer", snakemake.log[0])
params = snakemake.params
samples = [row for path in snakemake.input.samples for row in read_jsonl(path)]
records = explorer_samples(
    samples,
    labels_by_judge(list(snakemake.input.labels)),
    metric_definitions(params.metrics),
    params.trigger_aliases,
)
tables = summary_tables(pl.read_csv(snakemake.input.misalignment), pl.read_csv(snakemake.input.articulation))
write_explorer(snakemake.output.html, params.title, records, tables)
log.info("%d samples, %d summary tables -> %s", len(records), len(tables), snakemake.output.html)
