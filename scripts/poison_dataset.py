"""Build the poisoned training set of one recipe and its manifest."""

from triggertrace.io import file_sha256, write_json, write_jsonl
from triggertrace.logs import script_logger
from triggertrace.poison import build_dataset, manifest

log = script_logger("poison_dataset", snakemake.log[0])
dataset = build_dataset(snakemake.params.recipe, f"recipes.{snakemake.wildcards.recipe}")
write_jsonl(snakemake.output.data, dataset.rows)
summary = manifest(snakemake.wildcards.recipe, snakemake.params.recipe, dataset, file_sha256(snakemake.output.data))
write_json(snakemake.output.manifest, summary)
if summary["source_rows_by_group"] is not None:
    log.info("trigger already in the data; rows per group there: %s", summary["source_rows_by_group"])
log.info("%d rows %s sha256 %s", summary["n_rows"], summary["counts_by_group"], summary["train_jsonl_sha256"])
