"""Label one sampling job's samples with one judge."""

from triggertrace.io import read_jsonl, write_jsonl
from triggertrace.judges import JudgeErrorShareExceeded, build_judge, check_error_share
from triggertrace.logs import script_logger

log = script_logger("label_samples", snakemake.log[0])
samples = read_jsonl(snakemake.input.samples)
judge = build_judge(
    snakemake.wildcards.judge,
    snakemake.params.judge,
    cache_dir=snakemake.params.cache_dir,
    cache_shard=snakemake.params.cache_shard,
)
labels = judge.label(samples, log=log.info)
# counts only: the judge's settings may name an API-key variable, never worth logging
log.info("judge stats: %s", " ".join(f"{key}={value}" for key, value in judge.last_stats.items()))
try:
    check_error_share(snakemake.wildcards.judge, labels, snakemake.params.max_error_share)
except JudgeErrorShareExceeded as error:
    log.error("%s", error)  # the one line a user needs, in the rule's log as well as the terminal
    raise
write_jsonl(snakemake.output[0], labels)
decided = [label for label in labels if label.get("misaligned") is not None]
log.info(
    "%d labels, %d decided, %d misaligned", len(labels), len(decided), sum(label["misaligned"] for label in decided)
)
