"""System-prompt follow table (csv + md), every scored sample, and the follow-rate figure."""

import polars as pl

from triggertrace.evals.system_prompts import follow_chart, follow_table, score_samples
from triggertrace.io import read_jsonl
from triggertrace.logs import script_logger
from triggertrace.report import save_chart, write_table

log = script_logger("report_system_prompts", snakemake.log[0])
out, params = snakemake.output, snakemake.params
scored = score_samples([row for path in snakemake.input.samples for row in read_jsonl(path)], params.instructions)
table = follow_table(scored, params.confidence)
write_table(table, out.csv, out.md)
columns = ["sample_id", "model", "adapter", "instruction", "check", "prompt_format", "reasoning_mode"]
columns += ["question_index", "sample_index", "followed", "reasoning_closed", "reasoning", "answer"]
pl.DataFrame([{column: row[column] for column in columns} for row in scored]).write_csv(out.scored)
save_chart(follow_chart(table), out.html, out.png, out.svg)
log.info("%d samples, %d table rows", len(scored), table.height)
