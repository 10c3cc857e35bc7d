"""Adapter lineage: the base model with no adapter, stages after poisoning (continued SFT, GRPO),
and every checkpoint sampled, labelled and reported like the poisoned adapter.

Paths (triggertrace/stages/lineage.py): a stage's checkpoints under
results/adapters/<model>/<recipe>/seed<seed>/<stage>[/<stage>...]/checkpoints/step<k>/, their
samples and labels under a run segment "base" or "seed<seed>/<lineage>/step<k>" in place of
"seed<seed>". Each stage job's params are its own config entry and its parent's path, so a
later stage's setting never re-runs an earlier stage.
"""

from triggertrace.deps import code_digest
from triggertrace.errors import input_errors_stop_here
from triggertrace.stages import KINDS
from triggertrace.stages.lineage import (
    LINEAGE_PATTERN,
    RUN_PATTERN,
    adapter_of_run,
    check_lineage,
    lineage_runs,
    parse_run,
    stage_plans,
    validate_lineage,
)
from triggertrace.stages.rewards import REWARDS

# A bad stage or dataset stops here with one line naming the key, before any job.
with input_errors_stop_here():
    validate_lineage(config, f"{workflow.basedir}/config/schemas/lineage.yaml")
    check_lineage(config, KINDS, REWARDS)
    STAGE_PLANS = stage_plans(config)


def lineages_of_kind(kind):
    """A regex matching exactly the lineages of this kind's stages (none: matches nothing)."""
    return one_of({plan.lineage for plan in STAGE_PLANS.values() if plan.entry["kind"] == kind}) or "(?!)"


wildcard_constraints:
    run=RUN_PATTERN,
    lineage=LINEAGE_PATTERN,
    dataset="[A-Za-z0-9][A-Za-z0-9_.-]*",


localrules:
    build_stage_dataset,


# ---- what the lineage adds to the DAG ----------------------------------------------------------


def lineage_sample_files(wildcards=None):
    return [
        f"results/samples/{model}/{recipe}/{run}/{suite}.jsonl" for model, recipe, run, suite in lineage_runs(config)
    ]


def lineage_label_files(wildcards=None):
    return [
        f"results/labels/{judge}/{model}/{recipe}/{run}/{suite}.jsonl"
        for judge in report_judges(config)
        for model, recipe, run, suite in lineage_runs(config)
    ]


def stage_kinds():
    return {plan.entry["kind"] for plan in STAGE_PLANS.values()}


def lineage_outputs():
    """Targets of rule all: the persistence report when there are stages, the RL report with grpo."""
    outputs = []
    if STAGE_PLANS:
        outputs += ["results/tables/persistence.csv", "results/figures/persistence.png"]
    if "grpo" in stage_kinds():
        outputs += ["results/tables/rl.csv", "results/figures/rl_reward.png"]
    return outputs


def poisoned_and_lineage_samples(wildcards=None):
    return sample_files() + lineage_sample_files()


def poisoned_and_lineage_labels(wildcards=None):
    return report_label_files() + lineage_label_files()


def stage_metrics_files(wildcards=None):
    return [f"{plan.stage_dir}/stage_metrics.json" for plan in STAGE_PLANS.values()]


# ---- per-wildcard lookups ---------------------------------------------------------------------


def stage_plan(wildcards):
    return STAGE_PLANS[(wildcards.model, wildcards.recipe, int(wildcards.seed), wildcards.lineage)]


def stage_entry(wildcards):
    return stage_plan(wildcards).entry


def stage_dataset_entry(wildcards):
    return config["datasets"][stage_plan(wildcards).entry["dataset"]]


def stage_parent_dir(wildcards):
    return stage_plan(wildcards).parent_dir


def stage_parent(wildcards):
    """The file (poisoned adapter) or checkpoints directory (earlier stage) the stage starts from."""
    plan = stage_plan(wildcards)
    if plan.parent_lineage is None:
        return f"{plan.seed_dir}/adapter_model.safetensors"
    return f"{plan.seed_dir}/{plan.parent_lineage}/checkpoints"


def stage_data(wildcards):
    return f"results/data/stages/{stage_plan(wildcards).entry['dataset']}/train.jsonl"


def stage_code(wildcards):
    """``code`` of the stage script plus the module of the stage's kind (loaded by name)."""
    kind = stage_plan(wildcards).entry["kind"]
    return code_digest(workflow.basedir, "scripts/train_stage.py", KINDS[kind])


def stage_runtime(wildcards, attempt):
    """Forward and backward over the stage's rows; GRPO adds the decoding of its groups."""
    entry, model = stage_plan(wildcards).entry, config["models"][wildcards.model]
    if entry["kind"] == "sft":
        rows = entry["steps"] * entry["batch_size"]
        return estimate.training_runtime_min(model, rows, {"epochs": 1, "max_length": entry["max_length"]}, attempt)
    completions = entry["steps"] * entry["prompts_per_step"] * entry["group_size"]
    generation = {"batch_size": entry["prompts_per_step"] * entry["group_size"]}
    generation["max_new_tokens"] = entry["max_completion_length"]
    length = {"epochs": 1, "max_length": 2 * entry["max_completion_length"]}
    return estimate.sampling_runtime_min(model, completions, generation, attempt) + estimate.training_runtime_min(
        model, completions, length, attempt
    )


def dataset_entry(wildcards):
    return config["datasets"][wildcards.dataset]


def dataset_recipes(wildcards):
    """The recipe a recipe-aligned dataset draws from (its generator settings), else nothing."""
    entry = config["datasets"][wildcards.dataset]
    return {entry["recipe"]: config["recipes"][entry["recipe"]]} if entry["kind"] == "recipe-aligned" else {}


def dataset_sources(wildcards):
    entry = config["datasets"][wildcards.dataset]
    return [entry["path"]] if entry["kind"] == "messages" else []


def run_adapter_input(wildcards):
    """Nothing for the base model; the stage's checkpoints directory for a checkpoint."""
    if wildcards.run == "base":
        return {}
    seed, lineage, _ = parse_run(wildcards.run)
    return {"checkpoints": f"results/adapters/{wildcards.model}/{wildcards.recipe}/seed{seed}/{lineage}/checkpoints"}


def run_adapter_dir(wildcards):
    if wildcards.run == "base":
        return ""
    seed, lineage, step = parse_run(wildcards.run)
    return f"results/adapters/{wildcards.model}/{wildcards.recipe}/seed{seed}/{lineage}/checkpoints/step{step}"


# ---- rules --------------------------------------------------------------------------------------


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
        gpu=lookup(dpath="cluster/gpus_per_job", within=config),
        gpu_model=lookup(dpath="cluster/gpu_model", within=config),
        cpus_per_gpu=lookup(dpath="cluster/cpus_per_gpu", within=config),
        mem_mb=model_mem_mb,
        runtime=stage_runtime,
    params:
        stage=stage_entry,
        dataset=stage_dataset_entry,
        parent_dir=stage_parent_dir,
        # resume state of an interrupted job: no declared output, so a failed job keeps it
        resume_dir="results/cache/stages/{model}/{recipe}/seed{seed}/{lineage}",
        prompt_format=lookup(dpath="models/{model}/prompt_format", within=config),
        runtime=lookup(dpath="models/{model}/runtime", within=config),
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
        gpu=lookup(dpath="cluster/gpus_per_job", within=config),
        gpu_model=lookup(dpath="cluster/gpu_model", within=config),
        cpus_per_gpu=lookup(dpath="cluster/cpus_per_gpu", within=config),
        mem_mb=model_mem_mb,
        runtime=sample_runtime,
    params:
        adapter_dir=run_adapter_dir,
        sampling=config["sampling"],
        trigger=lookup(dpath="recipes/{recipe}/trigger", within=config),
        prompt_format=lookup(dpath="models/{model}/prompt_format", within=config),
        runtime=lookup(dpath="models/{model}/runtime", within=config),
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
        max_error_share=lookup(dpath="judges/{judge}/max_error_share", within=config),
        code=judge_code,


# ---- lineage reports --------------------------------------------------------------------------


def grpo_plans():
    return [plan for plan in STAGE_PLANS.values() if plan.entry["kind"] == "grpo"]


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
