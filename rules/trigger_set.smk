"""Trigger-set experiments (config section evals.trigger_set): per adapter, its planted trigger A
and each distractor trigger B never poisoned, fire rate, whether the CoT names the trigger shown,
articulation (fired and named) and whether it names A, with Wilson intervals. Reads
tables/sample_level.csv: no sampling or labelling of its own, seconds of work."""


rule report_trigger_set:
    """Articulation by trigger, the distractor test (A vs B) and the frequency control."""
    input:
        sample_level="results/tables/sample_level.csv",
    output:
        csv=report(
            "results/tables/trigger_set.csv",
            caption="../report/trigger_set.rst",
            category="Tables",
            subcategory="Trigger set",
        ),
        md="results/tables/trigger_set.md",
        html="results/figures/trigger_set.html",
        png=report(
            "results/figures/trigger_set.png",
            caption="../report/trigger_set.rst",
            category="Figures",
            subcategory="Trigger set",
        ),
        svg="results/figures/trigger_set.svg",
    log:
        "results/logs/report_trigger_set.log",
    conda:
        "../envs/triggertrace.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime,
    params:
        metric=TRIGGER_SET["metric"],
        judge=TRIGGER_SET["judge"],
        frequency_controls=TRIGGER_SET["frequency_controls"],
        confidence=TRIGGER_SET["confidence"],
        triggers=trigger_set_triggers(),
        aliases=trigger_set_aliases(),
        code=code("report_trigger_set"),
    script:
        "../scripts/report_trigger_set.py"
