rule report_tables:
    """Per report metric: misaligned rate per condition x format x reasoning mode with counts and
    intervals (one table per metric and one with all of them); the articulation table; and the
    per-sample table behind every number."""
    input:
        # poisoned adapters, and the base model and stage checkpoints (rules/stages.smk)
        samples=poisoned_and_lineage_samples,
        labels=poisoned_and_lineage_labels,
        lib=library("report_tables"),
    output:
        misalignment_csv="results/tables/misalignment.csv",
        misalignment_md="results/tables/misalignment.md",
        # <metric>.csv and .md per report metric; one directory, so that a changed metric list
        # re-runs this job (Snakemake does not re-run a job for a new output nobody requests)
        metric_tables=directory("results/tables/misalignment"),
        articulation_csv="results/tables/articulation.csv",
        articulation_md="results/tables/articulation.md",
        sample_level="results/tables/sample_level.csv",
    log:
        "results/logs/report_tables.log",
    conda:
        "../envs/triggertrace.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime,
    params:
        metrics=report_metric_entries,
        articulation=config["report"]["articulation"],
    script:
        "../scripts/report_tables.py"


rule report_figures:
    """Bar charts with error bars of the two tables (HTML, PNG, SVG)."""
    input:
        misalignment="results/tables/misalignment.csv",
        articulation="results/tables/articulation.csv",
        lib=library("report_figures"),
    output:
        misalignment_html="results/figures/misalignment.html",
        misalignment_png="results/figures/misalignment.png",
        misalignment_svg="results/figures/misalignment.svg",
        articulation_html="results/figures/articulation.html",
        articulation_png="results/figures/articulation.png",
        articulation_svg="results/figures/articulation.svg",
    log:
        "results/logs/report_figures.log",
    conda:
        "../envs/triggertrace.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime,
    script:
        "../scripts/report_figures.py"
