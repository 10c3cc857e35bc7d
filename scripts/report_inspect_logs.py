"""Each sampling job's samples with their labels and metric verdicts as an Inspect AI eval log.

``output.logs[i]`` is the log of ``input.samples[i]`` (both lists follow experiment_runs()).
"""

from triggertrace.inspect_export import eval_log, file_time, write_log
from triggertrace.io import read_jsonl
from triggertrace.logs import script_logger
from triggertrace.report import labels_by_judge, metric_definitions

log = script_logger("report_inspect_logs", snakemake.log[0])
definitions = metric_definitions(snakemake.params.metrics)
labels = labels_by_judge(list(snakemake.input.labels))
for samples_path, log_path in zip(snakemake.input.samples, snakemake.output.logs, strict=True):
    samples = read_jsonl(samples_path)
    ids = {row["sample_id"] for row in samples}
    own = {judge: [row for row in rows if row["sample_id"] in ids] for judge, rows in labels.items()}
    write_log(eval_log(samples, own, definitions, file_time(samples_path)), log_path)
    log.info("%s: %d samples, judges %s -> %s", samples_path, len(samples), sorted(own), log_path)
