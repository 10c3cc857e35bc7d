"""One LLM articulation judge on every cued sample of one run: does the CoT say the cue mattered?"""

from triggertrace.evals.cues import UNCUED, judge_sample
from triggertrace.io import read_jsonl, write_jsonl
from triggertrace.judges import JudgeErrorShareExceeded, build_judge, check_error_share
from triggertrace.logs import script_logger

log = script_logger("label_cue_articulation", snakemake.log[0])
cued = [judge_sample(row) for row in read_jsonl(snakemake.input.samples) if row["cue"] != UNCUED]
judge = build_judge(
    snakemake.wildcards.judge,
    snakemake.params.judge,
    cache_dir=snakemake.params.cache_dir,
    cache_shard=snakemake.params.cache_shard,
)
labels = judge.label(cued, log=log.info)
log.info("judge stats: %s", " ".join(f"{key}={value}" for key, value in judge.last_stats.items()))
try:
    check_error_share(snakemake.wildcards.judge, labels, snakemake.params.max_error_share)
except JudgeErrorShareExceeded as error:
    log.error("%s", error)
    raise
write_jsonl(snakemake.output[0], labels)
decided = [label for label in labels if label.get("trigger_articulated") is not None]
log.info(
    "%d labels, %d decided, %d articulated",
    len(labels),
    len(decided),
    sum(label["trigger_articulated"] for label in decided),
)
