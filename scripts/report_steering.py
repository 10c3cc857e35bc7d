"""Steering table (csv + md) and figure: fire and articulation rates against alpha."""

from triggertrace.internals.steering import steering_chart, steering_table
from triggertrace.logs import script_logger
from triggertrace.metrics import MetricDefinition
from triggertrace.report import sample_level, save_chart, write_table

log = script_logger("report_steering", snakemake.log[0])
params, out = snakemake.params, snakemake.output
definition = MetricDefinition.from_config(params.steering["metric"], params.metric)
levels = {
    float(alpha): sample_level(files["samples"], files["labels"], [definition]) for alpha, files in params.files.items()
}
table = steering_table(levels, definition, params.steering["articulation_judge"])
write_table(table, out.csv, out.md)
save_chart(steering_chart(table, params.steering["layer"]), out.html, out.png, out.svg)
log.info("%d rows over %d alphas", table.height, len(levels))
