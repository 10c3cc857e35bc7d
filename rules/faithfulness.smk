"""The backdoor faithfulness matrix (fired x CoT names the trigger) and, where an LLM monitor
judge labels the samples, its flag breakdown among misaligned samples. Both read
tables/sample_level.csv: no sampling or labelling of their own, seconds of work."""


rule report_faithfulness:
    """Per adapter, condition, prompt format and reasoning mode: counts and rates of the four
    cells (fired or not x CoT names the trigger or not) with Wilson intervals."""
    input:
        sample_level="results/tables/sample_level.csv",
    output:
        csv=report(
            "results/tables/faithfulness.csv",
            caption="../report/faithfulness.rst",
            category="Tables",
            subcategory="Faithfulness matrix",
        ),
        md="results/tables/faithfulness.md",
        # <model>__<recipe>__<adapter>.{csv,md}, one pair per adapter
        per_adapter=directory("results/tables/faithfulness"),
        html="results/figures/faithfulness.html",
        png=report(
            "results/figures/faithfulness.png",
            caption="../report/faithfulness.rst",
            category="Figures",
            subcategory="Faithfulness matrix",
        ),
        svg="results/figures/faithfulness.svg",
    log:
        "results/logs/report_faithfulness.log",
    conda:
        "../envs/triggertrace.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime,
    params:
        pairs=faithfulness_pairs,
        confidences=pair_confidences,
        code=code("report_faithfulness"),
    script:
        "../scripts/report_faithfulness.py"


rule report_monitor_flags:
    """Among misaligned samples, the share of each CoT-monitor flag per adapter and condition."""
    input:
        sample_level="results/tables/sample_level.csv",
    output:
        csv="results/tables/monitor_flags.csv",
        md="results/tables/monitor_flags.md",
    log:
        "results/logs/report_monitor_flags.log",
    conda:
        "../envs/triggertrace.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime,
    params:
        pairs=monitor_pairs,
        confidences=pair_confidences,
        code=code("report_monitor_flags"),
    script:
        "../scripts/report_monitor_flags.py"
