"""CoT-monitor flag shares among misaligned samples (Thought Crime, tables 3-5)."""

import polars as pl

from triggertrace.evals.faithfulness import monitor_table, read_sample_level
from triggertrace.logs import script_logger
from triggertrace.report import write_table

log = script_logger("report_monitor_flags", snakemake.log[0])
out, params = snakemake.output, snakemake.params
pairs = [tuple(pair) for pair in params.pairs]
level = read_sample_level(snakemake.input.sample_level, [f"metric.{metric}.misaligned" for metric, _ in pairs])
table = pl.concat([monitor_table(level, [pair], params.confidences[pair[0]]) for pair in pairs])
write_table(table, out.csv, out.md)
log.info("%d rows for %d (metric, monitor) pairs", table.height, len(pairs))
