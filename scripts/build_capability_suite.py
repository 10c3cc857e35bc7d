"""Build one capability suite's items and a manifest with the source's sha256."""

from triggertrace.evals.capability import build_items
from triggertrace.io import content_hash, file_sha256, write_json, write_jsonl
from triggertrace.logs import script_logger

log = script_logger("build_capability_suite", snakemake.log[0])
name, suite = snakemake.wildcards.cap_suite, snakemake.params.suite
items = build_items(name, suite)
write_jsonl(snakemake.output.suite_items, items)
source = suite["source"]
manifest = {"suite": name, "config": suite, "n_items": len(items)}
if source["kind"] == "file":
    manifest["source_sha256"] = file_sha256(source["path"])
# the items as loaded: for a datasets id this pins what the hub served this time
manifest["items_sha256"] = content_hash(items)
write_json(snakemake.output.manifest, manifest)
log.info("%s: %d items (%s), items sha256 %s", name, len(items), source["kind"], manifest["items_sha256"])
