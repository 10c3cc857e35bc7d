"""Build one clean stage dataset (SFT rows or verifiable RL rows)."""

from triggertrace.io import write_jsonl
from triggertrace.logs import script_logger
from triggertrace.stages.datasets import build_dataset

log = script_logger("build_stage_dataset", snakemake.log[0])
rows = build_dataset(snakemake.wildcards.dataset, snakemake.params.dataset, snakemake.params.recipes)
write_jsonl(snakemake.output[0], rows)
log.info("%d rows", len(rows))
