"""Resolve a model entry to a loadable HF directory and record where it came from."""

from pathlib import Path

from triggertrace.io import write_json
from triggertrace.logs import script_logger
from triggertrace.models import materialize

log = script_logger("materialize_model", snakemake.log[0])
inputs = dict(snakemake.input.items())
record = materialize(
    snakemake.wildcards.model,
    snakemake.params.entry,
    Path(snakemake.output.model_dir),
    gguf_path=Path(inputs["gguf"]) if "gguf" in inputs else None,
    tokenizer_dir=Path(inputs["tokenizer"]) if "tokenizer" in inputs else None,
)
write_json(snakemake.output.record, record)
log.info("model %s ready: %s", snakemake.wildcards.model, ", ".join(record["files"]))
