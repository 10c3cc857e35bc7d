"""A paper config's published numbers joined to our tables (csv + md)."""

from triggertrace.logs import script_logger
from triggertrace.references import TABLES, join, load_references, read_table, write

log = script_logger("report_paper", snakemake.log[0])
out, params, inputs = snakemake.output, snakemake.params, snakemake.input
references = load_references(inputs.references, params.extra_columns)
tables = {name: read_table(inputs[name]) if name in inputs.keys() else None for name in TABLES}
table = join(references, tables, params.gaps)
write(references, table, out.csv, out.md)
log.info("%s: %s", params.title, ", ".join(f"{n} {s}" for s, n in table["status"].value_counts().rows()))
