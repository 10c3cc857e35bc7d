"""Capability retention (config section evals.capability): multiple-choice and numeric suites,
sampled on the base model, every poisoned adapter and every stage checkpoint, scored by answer
extraction. Its own paths under results/evals/capability/: adding or changing a capability
suite re-runs only that suite's jobs, never training or the backdoor sampling.

Run segment {cap_run}: "base", "<recipe>/seed<seed>" (a poisoned adapter) or
"<recipe>/seed<seed>/<lineage>/step<k>" (a stage checkpoint).
"""

from triggertrace.errors import input_errors_stop_here
from triggertrace.stages.lineage import validate_lineage as validate_against_schema

with input_errors_stop_here():
    validate_against_schema(config, f"{workflow.basedir}/config/schemas/evals.yaml")

CAPABILITY = config.get("evals", {}).get("capability")


wildcard_constraints:
    cap_suite="[A-Za-z0-9][A-Za-z0-9_.-]*",
    cap_run=rf"base|({one_of(config['recipes'])})/seed[0-9]+(/{LINEAGE_PATTERN}/step[0-9]+)?",


def capability_runs(model):
    """Every run of ``model`` the capability suites sample: base, poisoned seeds, stage checkpoints."""
    runs = ["base"]
    for experiment in config["experiments"]:
        if experiment["model"] != model:
            continue
        runs += [f"{experiment['recipe']}/seed{seed}" for seed in experiment["seeds"]]
    for plan in STAGE_PLANS.values():
        if plan.model == model:
            runs += [f"{plan.recipe}/{plan.run(step)}" for step in plan.entry["checkpoint_steps"]]
    return list(dict.fromkeys(runs))


def capability_sample_files(wildcards=None):
    if not CAPABILITY:
        return []
    models = dict.fromkeys(experiment["model"] for experiment in config["experiments"])
    return [
        f"results/evals/capability/samples/{model}/{run}/{suite}.jsonl"
        for model in models
        for run in capability_runs(model)
        for suite in CAPABILITY["suites"]
    ]


def capability_outputs():
    return ["results/tables/capability.csv", "results/figures/capability.png"] if CAPABILITY else []


def capability_settings():
    """Everything of evals.capability but its suites (a suite's own entry is its build's param),
    or nothing when no capability suite is configured (then no capability job exists)."""
    return {key: value for key, value in (CAPABILITY or {}).items() if key != "suites"}


def capability_suite_entry(wildcards):
    return CAPABILITY["suites"][wildcards.cap_suite]


def capability_suite_sources(wildcards):
    source = CAPABILITY["suites"][wildcards.cap_suite]["source"]
    return [source["path"]] if source["kind"] == "file" else []


def cap_run_inputs(wildcards):
    """Nothing for the base model; the poisoned adapter's files or the stage's checkpoints."""
    if wildcards.cap_run == "base":
        return {}
    recipe, _, rest = wildcards.cap_run.partition("/")
    seed_dir = f"results/adapters/{wildcards.model}/{recipe}/{rest.split('/')[0]}"
    if "/" not in rest:
        return {"adapter_config": f"{seed_dir}/adapter_config.json", "weights": f"{seed_dir}/adapter_model.safetensors"}
    lineage = rest.split("/", 1)[1].rpartition("/step")[0]
    return {"checkpoints": f"{seed_dir}/{lineage}/checkpoints"}


def cap_run_adapter_dir(wildcards):
    """The adapter directory to merge ("" for the base model)."""
    if wildcards.cap_run == "base":
        return ""
    recipe, _, rest = wildcards.cap_run.partition("/")
    seed, _, stage = rest.partition("/")
    seed_dir = f"results/adapters/{wildcards.model}/{recipe}/{seed}"
    if not stage:
        return seed_dir
    lineage, _, step = stage.rpartition("/step")
    return f"{seed_dir}/{lineage}/checkpoints/step{step}"


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
        gpu=lookup(dpath="cluster/gpus_per_job", within=config),
        gpu_model=lookup(dpath="cluster/gpu_model", within=config),
        cpus_per_gpu=lookup(dpath="cluster/cpus_per_gpu", within=config),
        mem_mb=model_mem_mb,
    params:
        adapter_dir=cap_run_adapter_dir,
        settings=capability_settings(),
        prompt_format=lookup(dpath="models/{model}/prompt_format", within=config),
        runtime=lookup(dpath="models/{model}/runtime", within=config),
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
