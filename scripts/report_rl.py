"""RL table (before vs after each grpo stage) and the reward-curve figure."""

import polars as pl

from triggertrace.io import read_json
from triggertrace.logs import script_logger
from triggertrace.report import metric_definitions, sample_level, save_chart, write_table
from triggertrace.stages.report import reward_chart, rl_table

log = script_logger("report_rl", snakemake.log[0])
out, params = snakemake.output, snakemake.params
definitions = metric_definitions(params.metrics)
level = sample_level(list(snakemake.input.samples), list(snakemake.input.labels), definitions)
articulation = {entry["metric"]: entry["judge"] for entry in params.articulation}
stages, curves = {}, []
for lineage, steps, path in zip(params.lineages, params.steps, snakemake.input.stage_metrics, strict=True):
    metrics = read_json(path)
    stages.setdefault(lineage, {"steps": steps, "metrics": []})["metrics"].append(metrics)
    curves += [{"run": path.rsplit("/", 1)[0], **point} for point in metrics["reward_curve"]]
table = rl_table(level, definitions, articulation, stages)
write_table(table, out.csv, out.md)
save_chart(reward_chart(pl.DataFrame(curves)), out.reward_html, out.reward_png, out.reward_svg)
log.info("%d rows, %d reward points", table.height, len(curves))
