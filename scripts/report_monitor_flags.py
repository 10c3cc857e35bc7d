"""CoT-monitor flag shares among misaligned samples (Thought Crime, tables 3-5): the long table as
CSV, and in Markdown first the flags x (adapter, condition) grid, then the long table."""

from pathlib import Path

import polars as pl

from triggertrace.evals.faithfulness import markdown_grid, monitor_pivot, monitor_table, read_sample_level
from triggertrace.logs import script_logger
from triggertrace.report import write_table

log = script_logger("report_monitor_flags", snakemake.log[0])
out, params = snakemake.output, snakemake.params
pairs = [tuple(pair) for pair in params.pairs]
level = read_sample_level(snakemake.input.sample_level, [f"metric.{metric}.misaligned" for metric, _ in pairs])
table = pl.concat([monitor_table(level, [pair], params.confidences[pair[0]]) for pair in pairs])
write_table(table, out.csv, out.md)
long_markdown = Path(out.md).read_text(encoding="utf-8")
grid = markdown_grid(monitor_pivot(table))
Path(out.md).write_text(
    "CoT-monitor flag among misaligned samples: share % (count/flagged) [Wilson interval %]\n\n"
    + grid
    + "\nLong form\n\n"
    + long_markdown,
    encoding="utf-8",
)
log.info("%d rows for %d (metric, monitor) pairs", table.height, len(pairs))
