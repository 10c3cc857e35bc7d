"""Probe table (csv + md) and figure: AUROC per layer, probe and adapter; the fitted probes'
rows and the defection probe's (contrast direction, not refitted)."""

import polars as pl

from triggertrace.internals.activations import load_activations, pooled
from triggertrace.internals.defection import defection_rows
from triggertrace.internals.probes import PROBE_COLUMNS, ProbeSettings, probe_chart, probe_rows
from triggertrace.io import read_jsonl
from triggertrace.logs import script_logger
from triggertrace.metrics import MetricDefinition, apply_metric
from triggertrace.report import labels_by_judge, save_chart, write_table

log = script_logger("report_probes", snakemake.log[0])
params, out = snakemake.params, snakemake.output
settings = ProbeSettings.from_config(params.probes)
definition = MetricDefinition.from_config(params.probes["metric"], params.metric)
rows = []
# one adapter = its files over every suite, pooled
for key, files in params.runs.items():
    model, recipe, run = key.split("/", 2)
    samples = [row for path in files["samples"] for row in read_jsonl(path)]
    verdicts = apply_metric(definition, [row["sample_id"] for row in samples], labels_by_judge(files["labels"]))
    fired = {row["sample_id"]: row["misaligned"] for row in verdicts}
    activations = pooled([load_activations(path) for path in files["activations"]])
    contrast = load_activations(files["contrast"][0])
    for row in probe_rows(activations, samples, fired, settings) + defection_rows(
        activations, contrast, samples, fired, settings
    ):
        rows.append({"model": model, "recipe": recipe, "adapter": run, **row})
    log.info("%s/%s/%s: %d samples", model, recipe, run, len(samples))
table = pl.DataFrame(rows, schema_overrides={"auroc": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64})
table = table.select(PROBE_COLUMNS)
write_table(table, out.csv, out.md)
save_chart(probe_chart(table), out.html, out.png, out.svg)
log.info("%d probe rows", table.height)
