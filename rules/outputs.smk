"""What researchers open besides the tables: Inspect AI eval logs and the trace explorer."""


def inspect_log_files(wildcards=None):
    """One .eval per sampling job, in the order of sample_files()."""
    return [
        f"results/inspect/{model}/{recipe}/seed{seed}/{suite}.eval" for model, recipe, seed, suite in experiment_runs()
    ]


rule report_inspect_logs:
    """Samples, labels and metric verdicts as Inspect AI eval logs (`inspect view --log-dir
    results/inspect`). One job for all logs: importing inspect_ai costs seconds."""
    input:
        samples=sample_files,
        labels=report_label_files,
        lib=library("report_inspect_logs"),
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
    script:
        "../scripts/report_inspect_logs.py"
