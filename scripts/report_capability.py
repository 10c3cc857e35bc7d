"""Capability table (csv + md), every scored sample, and the accuracy figure."""

import polars as pl

from triggertrace.evals.capability import capability_chart, capability_table, score_samples
from triggertrace.io import read_jsonl
from triggertrace.logs import script_logger
from triggertrace.report import save_chart, write_table

log = script_logger("report_capability", snakemake.log[0])
out = snakemake.output
scored = score_samples([row for path in snakemake.input.samples for row in read_jsonl(path)])
table = capability_table(scored, snakemake.params.confidence)
write_table(table, out.csv, out.md)
columns = ["sample_id", "model", "adapter", "suite", "item_id", "task", "prompt_format", "reasoning_mode", "gold"]
columns += ["extracted", "extraction", "correct", "reasoning", "answer"]
pl.DataFrame([{column: row[column] for column in columns} for row in scored]).write_csv(out.scored)
save_chart(capability_chart(table), out.html, out.png, out.svg)
log.info("%d samples, %d table rows", len(scored), table.height)
