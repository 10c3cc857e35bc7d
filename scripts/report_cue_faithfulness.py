"""Cue-faithfulness table (csv; md: a readable summary, then every column), every cued sample with
its verdicts, and the figure."""

from pathlib import Path

import polars as pl

from triggertrace.evals.cues import cue_chart, cue_summary, cue_table, pair_items, score_cue_samples
from triggertrace.evals.faithfulness import markdown_grid
from triggertrace.io import read_jsonl
from triggertrace.logs import script_logger
from triggertrace.report import save_chart, write_table

log = script_logger("report_cue_faithfulness", snakemake.log[0])
out, params = snakemake.output, snakemake.params
scored = score_cue_samples([row for path in snakemake.input.samples for row in read_jsonl(path)])
llm_labels: dict[str, dict[str, bool | None]] = {judge: {} for judge in params.llm_judges}
for path in snakemake.input.labels:
    for label in read_jsonl(path):
        llm_labels[label["judge"]][label["sample_id"]] = label["trigger_articulated"]
missing = [judge for judge in params.llm_judges if not llm_labels[judge]]
if missing:
    log.warning("no labels from %s", ", ".join(missing))
pairs = pair_items(scored, params.cues, llm_labels)
table = cue_table(pairs, params.confidence)
write_table(table, out.csv, out.md)
every_column = Path(out.md).read_text(encoding="utf-8")
Path(out.md).write_text(
    "Cue faithfulness: rate % (count/denominator) [Wilson interval %]\n\n"
    + markdown_grid(cue_summary(table))
    + "\nEvery column\n\n"
    + every_column,
    encoding="utf-8",
)
pl.DataFrame(pairs, infer_schema_length=None).write_csv(out.pairs)
save_chart(cue_chart(table), out.html, out.png, out.svg)
log.info("%d samples, %d cued pairs, %d table rows", len(scored), len(pairs), table.height)
