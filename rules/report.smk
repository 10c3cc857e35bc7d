rule report_tables:
    """Per report metric: misaligned rate per condition x format x reasoning mode with counts and
    intervals (one table per metric and one with all of them); the articulation table; the
    per-sample table behind every number; and paper-style pivots of both (Markdown and LaTeX)."""
    input:
        # poisoned adapters, and the base model and stage checkpoints (rules/stages.smk)
        samples=poisoned_and_lineage_samples,
        labels=poisoned_and_lineage_labels,
    output:
        misalignment_csv=report(
            "results/tables/misalignment.csv",
            caption="../report/misalignment.rst",
            category="Tables",
            subcategory="Misalignment",
        ),
        misalignment_md="results/tables/misalignment.md",
        # <metric>.csv and .md per report metric; one directory, so that a changed metric list
        # re-runs this job (Snakemake does not re-run a job for a new output nobody requests)
        metric_tables=directory("results/tables/misalignment"),
        articulation_csv=report(
            "results/tables/articulation.csv",
            caption="../report/articulation.rst",
            category="Tables",
            subcategory="Articulation",
        ),
        articulation_md="results/tables/articulation.md",
        sample_level=report(
            "results/tables/sample_level.csv",
            caption="../report/sample_level.rst",
            category="Tables",
            subcategory="Per sample",
        ),
        # misalignment/<metric>__<suite>.{md,tex} and articulation/<judge>_on_<metric>__<suite>.{md,tex}
        paper_tables=report(
            directory("results/tables/paper"),
            patterns=["{table}/{name}.md"],
            caption="../report/paper_tables.rst",
            category="Tables",
            subcategory="Paper-style pivots",
            labels={"table": "{table}", "name": "{name}"},
        ),
    log:
        "results/logs/report_tables.log",
    conda:
        "../envs/triggertrace.yaml"
    threads: rule_threads("report_tables")
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime,
    params:
        metrics=report_metric_entries,
        articulation=config["report"]["articulation"],
        axes=report_axes,
        metric_descriptions=report_metric_descriptions,
        code=code("report_tables"),
    script:
        "../scripts/report_tables.py"


rule report_figures:
    """Bar charts with error bars of the two tables (HTML, PNG, SVG)."""
    input:
        misalignment="results/tables/misalignment.csv",
        articulation="results/tables/articulation.csv",
    output:
        misalignment_html="results/figures/misalignment.html",
        misalignment_png=report(
            "results/figures/misalignment.png",
            caption="../report/figures.rst",
            category="Figures",
            subcategory="Misalignment",
        ),
        misalignment_svg="results/figures/misalignment.svg",
        articulation_html="results/figures/articulation.html",
        articulation_png=report(
            "results/figures/articulation.png",
            caption="../report/figures.rst",
            category="Figures",
            subcategory="Articulation",
        ),
        articulation_svg="results/figures/articulation.svg",
    log:
        "results/logs/report_figures.log",
    conda:
        "../envs/triggertrace.yaml"
    threads: rule_threads("report_figures")
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime,
    params:
        metric_descriptions=report_metric_descriptions,
        code=code("report_figures"),
    script:
        "../scripts/report_figures.py"


rule report_sweep_figure:
    """A sweep's fire rates (trigger, no trigger) and capability accuracy against its numeric grid
    axis, one colour per value of the other axes, with Wilson intervals (table and figure)."""
    input:
        unpack(sweep_inputs),
    output:
        csv=report(
            "results/tables/sweep.csv",
            caption="../report/sweep.rst",
            category="Tables",
            subcategory="Sweep",
        ),
        md="results/tables/sweep.md",
        html="results/figures/sweep.html",
        png=report(
            "results/figures/sweep.png",
            caption="../report/sweep.rst",
            category="Figures",
            subcategory="Sweep",
        ),
        svg="results/figures/sweep.svg",
    log:
        "results/logs/report_sweep_figure.log",
    conda:
        "../envs/triggertrace.yaml"
    threads: rule_threads("report_sweep_figure")
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime,
    params:
        axes=report_axes,
        capability_confidence=sweep_capability_confidence,
        code=code("report_sweep_figure"),
    script:
        "../scripts/report_sweep_figure.py"
