"""Build the cue-faithfulness items (a capability item source) and a manifest with its sha256."""

from triggertrace.evals.capability import build_items
from triggertrace.io import content_hash, file_sha256, write_json, write_jsonl
from triggertrace.logs import script_logger

log = script_logger("build_cue_items", snakemake.log[0])
entry = snakemake.params.entry
items = build_items("cue_faithfulness.items", entry)
write_jsonl(snakemake.output.cue_items, items)
source = entry["source"]
manifest = {"config": entry, "n_items": len(items), "items_sha256": content_hash(items)}
if source["kind"] == "file":
    manifest["source_sha256"] = file_sha256(source["path"])
write_json(snakemake.output.manifest, manifest)
log.info("%d items (%s), items sha256 %s", len(items), source["kind"], manifest["items_sha256"])
