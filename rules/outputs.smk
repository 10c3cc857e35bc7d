"""What researchers open besides the tables: Inspect AI eval logs and the trace explorer."""


rule report_inspect_logs:
    """Samples, labels and metric verdicts as Inspect AI eval logs (`inspect view --log-dir
    results/inspect`). One job for all logs: importing inspect_ai costs seconds."""
    input:
        samples=sample_files,
        labels=report_label_files,
    output:
        logs=report(
            inspect_log_files(),
            caption="../report/inspect.rst",
            category="Transcripts",
            subcategory="Inspect logs",
        ),
    log:
        "results/logs/report_inspect_logs.log",
    conda:
        "../envs/triggertrace.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime,
    params:
        metrics=report_metric_entries,
        code=code("report_inspect_logs"),
    script:
        "../scripts/report_inspect_logs.py"


rule report_explorer:
    """The trace explorer: results/explorer/index.html, one self-contained page (no server, offline)."""
    input:
        samples=sample_files,
        labels=report_label_files,
        misalignment="results/tables/misalignment.csv",
        articulation="results/tables/articulation.csv",
    output:
        html=report(
            "results/explorer/index.html",
            caption="../report/explorer.rst",
            category="Transcripts",
            subcategory="Trace explorer",
        ),
    log:
        "results/logs/report_explorer.log",
    conda:
        "../envs/triggertrace.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime,
    params:
        metrics=report_metric_entries,
        metric_descriptions=report_metric_descriptions,
        trigger_aliases=explorer_trigger_aliases,
        title="triggertrace trace explorer",
        code=code("report_explorer", *EXPLORER_ASSETS),
    script:
        "../scripts/report_explorer.py"
