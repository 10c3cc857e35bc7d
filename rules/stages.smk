"""Rules of the adapter lineage (functions, checks and paths: rules/stages_common.smk)."""

# ---- rules --------------------------------------------------------------------------------------


localrules:
    build_stage_dataset,


rule build_stage_dataset:
    """A clean dataset for a stage: recipe-aligned rows, a chat messages JSONL, or arithmetic items."""
    input:
        sources=dataset_sources,
    output:
        "results/data/stages/{dataset}/train.jsonl",
    log:
        "results/logs/build_stage_dataset/{dataset}.log",
    conda:
        "../envs/triggertrace.yaml"
    params:
        dataset=dataset_entry,
        recipes=dataset_recipes,
        code=code("build_stage_dataset"),
    script:
        "../scripts/build_stage_dataset.py"


rule train_sft_stage:
    """Continued SFT from the parent adapter; checkpoints at the configured steps."""
    input:
        model="results/models/{model}/hf",
        parent=stage_parent,
        data=stage_data,
    output:
        checkpoints=directory("results/adapters/{model}/{recipe}/seed{seed}/{lineage}/checkpoints"),
        metrics="results/adapters/{model}/{recipe}/seed{seed}/{lineage}/stage_metrics.json",
        resolved="results/adapters/{model}/{recipe}/seed{seed}/{lineage}/resolved_config.json",
    log:
        "results/logs/train_stage/{model}/{recipe}/seed{seed}/{lineage}.log",
    benchmark:
        "results/benchmarks/train_stage/{model}/{recipe}/seed{seed}/{lineage}.tsv"
    wildcard_constraints:
        lineage=lineages_of_kind("sft"),
    conda:
        "../envs/triggertrace.yaml"
    # stage training is training work, stage sampling is sampling work: their thread counts
    threads: rule_threads("train_adapter")
    resources:
        gpu=lookup(dpath="gpus_per_job", within=config["cluster"]),
        gpu_model=lookup(dpath="gpu_model", within=config["cluster"]),
        cpus_per_gpu=lookup(dpath="cpus_per_gpu", within=config["cluster"]),
        mem_mb=model_mem_mb,
        runtime=stage_runtime,
    params:
        stage=stage_entry,
        dataset=stage_dataset_entry,
        parent_dir=stage_parent_dir,
        # resume state of an interrupted job: no declared output, so a failed job keeps it
        resume_dir="results/cache/stages/{model}/{recipe}/seed{seed}/{lineage}",
        prompt_format=lookup(dpath="{model}/prompt_format", within=config["models"]),
        runtime=lookup(dpath="{model}/runtime", within=config["models"]),
        code=stage_code,
    script:
        "../scripts/train_stage.py"


use rule train_sft_stage as train_grpo_stage with:
    wildcard_constraints:
        lineage=lineages_of_kind("grpo"),


rule sample_lineage:
    """The base model (run "base") or one stage checkpoint on one suite, like sample_suite."""
    input:
        unpack(run_adapter_input),
        model="results/models/{model}/hf",
        suite="results/suites/{suite}.jsonl",
    output:
        samples="results/samples/{model}/{recipe}/{run}/{suite}.jsonl",
        metrics="results/samples/{model}/{recipe}/{run}/{suite}.metrics.json",
    log:
        "results/logs/sample_lineage/{model}/{recipe}/{run}/{suite}.log",
    benchmark:
        "results/benchmarks/sample_lineage/{model}/{recipe}/{run}/{suite}.tsv"
    conda:
        "../envs/triggertrace.yaml"
    threads: rule_threads("sample_suite")
    resources:
        gpu=lookup(dpath="gpus_per_job", within=config["cluster"]),
        gpu_model=sample_gpu_model,
        cpus_per_gpu=lookup(dpath="cpus_per_gpu", within=config["cluster"]),
        gpu_mem_mb=sample_gpu_mem_mb,
        mem_mb=model_mem_mb,
        runtime=sample_runtime,
    params:
        adapter_dir=run_adapter_dir,
        sampling=run_sampling,
        trigger=lookup(dpath="{recipe}/trigger", within=config["recipes"]),
        prompt_format=lookup(dpath="{model}/prompt_format", within=config["models"]),
        runtime=lookup(dpath="{model}/runtime", within=config["models"]),
        code=code("sample_lineage"),
    script:
        "../scripts/sample_lineage.py"


use rule label_samples as label_lineage_samples with:
    input:
        unpack(judge_inputs),
        samples="results/samples/{model}/{recipe}/{run}/{suite}.jsonl",
    output:
        "results/labels/{judge}/{model}/{recipe}/{run}/{suite}.jsonl",
    log:
        "results/logs/label_samples/{judge}/{model}/{recipe}/{run}/{suite}.log",
    params:
        judge=judge_entry,
        cache_dir="results/cache/judges/{judge}",
        cache_shard="{model}/{recipe}/{run}/{suite}",
        max_error_share=lookup(dpath="{judge}/max_error_share", within=config["judges"]),
        code=judge_code,


localrules:
    label_lineage_samples_on_submit_host,


# as label_samples_on_submit_host: judges that need the network label where snakemake runs
use rule label_lineage_samples as label_lineage_samples_on_submit_host with:
    wildcard_constraints:
        judge=judge_name_pattern(judges_on_submit_host()),


# ---- lineage reports --------------------------------------------------------------------------


rule report_persistence:
    """Fire rate per stage and checkpoint step for every condition, articulation among fired."""
    input:
        samples=poisoned_and_lineage_samples,
        labels=poisoned_and_lineage_labels,
    output:
        csv="results/tables/persistence.csv",
        md="results/tables/persistence.md",
        html="results/figures/persistence.html",
        png="results/figures/persistence.png",
        svg="results/figures/persistence.svg",
    log:
        "results/logs/report_persistence.log",
    conda:
        "../envs/triggertrace.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime,
    params:
        metrics=report_metric_entries,
        articulation=config["report"]["articulation"],
        code=code("report_persistence"),
    script:
        "../scripts/report_persistence.py"


rule report_rl:
    """Before vs after each GRPO stage, and the reward per step."""
    input:
        samples=poisoned_and_lineage_samples,
        labels=poisoned_and_lineage_labels,
        stage_metrics=[f"{plan.stage_dir}/stage_metrics.json" for plan in grpo_plans()],
    output:
        csv="results/tables/rl.csv",
        md="results/tables/rl.md",
        reward_html="results/figures/rl_reward.html",
        reward_png="results/figures/rl_reward.png",
        reward_svg="results/figures/rl_reward.svg",
    log:
        "results/logs/report_rl.log",
    conda:
        "../envs/triggertrace.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime,
    params:
        metrics=report_metric_entries,
        articulation=config["report"]["articulation"],
        lineages=[plan.lineage for plan in grpo_plans()],
        steps=[[min(plan.entry["checkpoint_steps"]), max(plan.entry["checkpoint_steps"])] for plan in grpo_plans()],
        code=code("report_rl"),
    script:
        "../scripts/report_rl.py"
