"""A paper config's published numbers beside ours (config/paper/, the config's `paper:` block):
the reference file is checked before any job, and one light job joins it to the tables the run
writes (triggertrace/references.py). Included only when the config has a `paper:` block."""

from triggertrace.errors import input_errors_stop_here
from triggertrace.references import TABLES, config_gaps, load_references

# A bad reference file stops here with one line naming the file and the key, before any job.
with input_errors_stop_here():
    PAPER = load_references(
        config["paper"]["references"],
        extra_columns={name for values in report_axes().values() for name in values},
    )


def missing_paper_tables():
    """Our tables this config does not write -> why (their references are unsupported here)."""
    missing = {}
    if "results/tables/cue_faithfulness.csv" not in cue_outputs():
        missing["cue_faithfulness"] = "this config has no evals.cue_faithfulness section"
    if "results/tables/persistence.csv" not in lineage_outputs():
        missing["persistence"] = "this config has no lineage stages, so no persistence table"
    return missing


def paper_table_inputs(wildcards=None):
    """The reference file and each table of ours it reads that this config writes."""
    missing = missing_paper_tables()
    tables = {name: TABLES[name][0] for name in PAPER.tables() if name not in missing}
    return {"references": config["paper"]["references"], **tables}


def paper_gaps(wildcards=None):
    return config_gaps(PAPER, config, missing_paper_tables())


def paper_outputs():
    return ["results/tables/paper_references.csv"]


rule report_paper_references:
    """Each published number of the paper beside ours: published, ours with its interval and n,
    the difference and the citation; "not run", "no data" or "unsupported" (with why) otherwise."""
    input:
        unpack(paper_table_inputs),
    output:
        csv=report(
            "results/tables/paper_references.csv",
            caption="../report/paper_references.rst",
            category="Tables",
            subcategory="Published vs ours",
        ),
        md="results/tables/paper_references.md",
    log:
        "results/logs/report_paper_references.log",
    conda:
        "../envs/triggertrace.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime,
    params:
        extra_columns=sorted({name for values in report_axes().values() for name in values}),
        gaps=paper_gaps(),
        title=PAPER.title,
        code=code("report_paper"),
    script:
        "../scripts/report_paper.py"
