"""Write one evaluation suite's held-out prompts."""

from triggertrace.io import write_jsonl
from triggertrace.logs import script_logger
from triggertrace.suites import build_suite

log = script_logger("build_suite", snakemake.log[0])
items = build_suite(snakemake.params.suite)
write_jsonl(snakemake.output[0], items)
log.info("%d prompts", len(items))
