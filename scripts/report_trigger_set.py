"""Trigger-set table (csv; md: a readable summary, then every column) and figure."""

from pathlib import Path

from triggertrace.evals.faithfulness import markdown_grid, read_sample_level
from triggertrace.evals.trigger_set import boolean_columns, trigger_set_chart, trigger_set_summary, trigger_set_table
from triggertrace.logs import script_logger
from triggertrace.report import save_chart, write_table

log = script_logger("report_trigger_set", snakemake.log[0])
out, params = snakemake.output, snakemake.params
level = read_sample_level(snakemake.input.sample_level, boolean_columns(params.metric, params.judge))
table = trigger_set_table(
    level, params.metric, params.judge, params.triggers, params.frequency_controls, params.aliases, params.confidence
)
write_table(table, out.csv, out.md)
every_column = Path(out.md).read_text(encoding="utf-8")
Path(out.md).write_text(
    "Trigger set: rate % (count/denominator) [Wilson interval %]\n\n"
    + markdown_grid(trigger_set_summary(table))
    + "\nEvery column\n\n"
    + every_column,
    encoding="utf-8",
)
save_chart(trigger_set_chart(table), out.html, out.png, out.svg)
log.info("%d rows over %d recipes from %d samples", table.height, table["recipe"].n_unique(), level.height)
