"""Capability retention (config section evals.capability): multiple-choice and numeric suites,
sampled on the base model, every poisoned adapter and every stage checkpoint, scored by answer
extraction. Its own paths under results/evals/capability/: adding or changing a capability
suite re-runs only that suite's jobs, never training or the backdoor sampling.

Run segment {cap_run}: "base", "<recipe>/seed<seed>" (a poisoned adapter) or
"<recipe>/seed<seed>/<lineage>/step<k>" (a stage checkpoint).
"""


rule build_capability_suite:
    """The items of one capability suite, with the source's sha256 in its manifest."""
    input:
        sources=capability_suite_sources,
    output:
        suite_items="results/evals/capability/suites/{cap_suite}.jsonl",
        manifest="results/evals/capability/suites/{cap_suite}.manifest.json",
    log:
        "results/logs/build_capability_suite/{cap_suite}.log",
    conda:
        "../envs/triggertrace.yaml"
    params:
        suite=capability_suite_entry,
        code=code("build_capability_suite"),
    script:
        "../scripts/build_capability_suite.py"


rule sample_capability:
    """One model run (base, adapter or checkpoint) on one capability suite, every format and mode."""
    input:
        unpack(cap_run_inputs),
        model="results/models/{model}/hf",
        suite_items="results/evals/capability/suites/{cap_suite}.jsonl",
    output:
        samples="results/evals/capability/samples/{model}/{cap_run}/{cap_suite}.jsonl",
        metrics="results/evals/capability/samples/{model}/{cap_run}/{cap_suite}.metrics.json",
    log:
        "results/logs/sample_capability/{model}/{cap_run}/{cap_suite}.log",
    benchmark:
        "results/benchmarks/sample_capability/{model}/{cap_run}/{cap_suite}.tsv"
    conda:
        "../envs/triggertrace.yaml"
    threads: rule_threads("sample_suite")
    resources:
        gpu=lookup(dpath="gpus_per_job", within=config["cluster"]),
        gpu_model=lookup(dpath="gpu_model", within=config["cluster"]),
        cpus_per_gpu=lookup(dpath="cpus_per_gpu", within=config["cluster"]),
        mem_mb=model_mem_mb,
    params:
        adapter_dir=cap_run_adapter_dir,
        settings=capability_settings(),
        prompt_format=lookup(dpath="{model}/prompt_format", within=config["models"]),
        runtime=lookup(dpath="{model}/runtime", within=config["models"]),
        code=code("sample_capability"),
    script:
        "../scripts/sample_capability.py"


rule report_capability:
    """Accuracy with Wilson intervals per run x suite x format x reasoning mode; figure."""
    input:
        samples=capability_sample_files,
    output:
        csv=report(
            "results/tables/capability.csv",
            caption="../report/capability.rst",
            category="Tables",
            subcategory="Capability",
        ),
        md="results/tables/capability.md",
        scored="results/tables/capability_samples.csv",
        html="results/figures/capability.html",
        png=report(
            "results/figures/capability.png",
            caption="../report/capability.rst",
            category="Figures",
            subcategory="Capability",
        ),
        svg="results/figures/capability.svg",
    log:
        "results/logs/report_capability.log",
    conda:
        "../envs/triggertrace.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime,
    params:
        confidence=capability_settings().get("confidence"),
        code=code("report_capability"),
    script:
        "../scripts/report_capability.py"
