"""Cue faithfulness (config section evals.cue_faithfulness; Chua & Evans, arXiv 2501.08156): each
multiple-choice item asked without a cue and with every biasing cue, on the base model and every
poisoned adapter; switch rate and whether the CoT articulates the cue (lexicon judge, plus the
LLM articulation judges named in llm_judges). Its own paths under results/evals/cues/.

Run segment {cap_run} as in rules/capability.smk: "base", "<recipe>/seed<seed>" or a stage
checkpoint "<recipe>/seed<seed>/<lineage>/step<k>".
"""


rule build_cue_items:
    """The multiple-choice items every cue is asked on, with the source's sha256 in its manifest."""
    input:
        sources=cue_items_sources,
    output:
        cue_items="results/evals/cues/items.jsonl",
        manifest="results/evals/cues/items.manifest.json",
    log:
        "results/logs/build_cue_items.log",
    conda:
        "../envs/triggertrace.yaml"
    params:
        entry=cue_items_entry,
        code=code("build_cue_items"),
    script:
        "../scripts/build_cue_items.py"


rule sample_cues:
    """One model run (base, adapter or checkpoint): every item uncued and under every cue."""
    input:
        unpack(cap_run_inputs),
        model="results/models/{model}/hf",
        cue_items="results/evals/cues/items.jsonl",
    output:
        samples="results/evals/cues/samples/{model}/{cap_run}.jsonl",
        metrics="results/evals/cues/samples/{model}/{cap_run}.metrics.json",
    log:
        "results/logs/sample_cues/{model}/{cap_run}.log",
    benchmark:
        "results/benchmarks/sample_cues/{model}/{cap_run}.tsv"
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
        settings=cue_sampling_settings(),
        prompt_format=lookup(dpath="{model}/prompt_format", within=config["models"]),
        runtime=lookup(dpath="{model}/runtime", within=config["models"]),
        code=code("sample_cues"),
    script:
        "../scripts/sample_cues.py"


rule label_cue_articulation:
    """One LLM articulation judge's verdict on every cued sample of one run (the cue as its
    "trigger"); its row cache is the judge's, as for the backdoor labels."""
    input:
        unpack(judge_inputs),
        samples="results/evals/cues/samples/{model}/{cap_run}.jsonl",
    output:
        "results/evals/cues/labels/{judge}/{model}/{cap_run}.jsonl",
    log:
        "results/logs/label_cue_articulation/{judge}/{model}/{cap_run}.log",
    wildcard_constraints:
        judge=judge_cluster_pattern(),
    conda:
        "../envs/triggertrace.yaml"
    threads: rule_threads("label_samples")
    resources:
        **endpoint_requests,
        mem_mb=judge_mem_mb,
        runtime=judge_runtime,
        gpu=judge_gpus,
        gpu_model=judge_gpu_model,
        gpu_mem_mb=judge_gpu_mem_mb,
        slurm_partition=judge_partition,
    params:
        judge=judge_entry,
        cache_dir="results/cache/judges/{judge}",
        cache_shard="cues/{model}/{cap_run}",
        max_error_share=lookup(dpath="{judge}/max_error_share", within=config["judges"]),
        code=cue_judge_code,
    script:
        "../scripts/label_cue_articulation.py"


# API judges label where snakemake runs (compute nodes often have no network), as label_samples.
localrules:
    label_cue_articulation_on_submit_host,


use rule label_cue_articulation as label_cue_articulation_on_submit_host with:
    wildcard_constraints:
        judge=judge_name_pattern(judges_on_submit_host()),


rule report_cue_faithfulness:
    """Per model, adapter, format, cue and judge: switch rate, articulation among switched
    (recall), mentions among unswitched and precision, with Wilson intervals; figure."""
    input:
        samples=cue_sample_files,
        labels=cue_label_files,
    output:
        csv=report(
            "results/tables/cue_faithfulness.csv",
            caption="../report/cue_faithfulness.rst",
            category="Tables",
            subcategory="Cue faithfulness",
        ),
        md="results/tables/cue_faithfulness.md",
        pairs="results/tables/cue_faithfulness_samples.csv",
        html="results/figures/cue_faithfulness.html",
        png=report(
            "results/figures/cue_faithfulness.png",
            caption="../report/cue_faithfulness.rst",
            category="Figures",
            subcategory="Cue faithfulness",
        ),
        svg="results/figures/cue_faithfulness.svg",
    log:
        "results/logs/report_cue_faithfulness.log",
    conda:
        "../envs/triggertrace.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime,
    params:
        cues=cue_settings().get("cues"),
        llm_judges=cue_settings().get("llm_judges"),
        confidence=cue_settings().get("confidence"),
        code=code("report_cue_faithfulness"),
    script:
        "../scripts/report_cue_faithfulness.py"
