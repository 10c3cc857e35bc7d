"""Functions of rules/capability.smk (kept apart from the rules, as Snakemake's linter asks).

Capability retention (config section evals.capability): multiple-choice and numeric suites,
sampled on the base model, every poisoned adapter and every stage checkpoint, scored by answer
extraction. Its own paths under results/evals/capability/: adding or changing a capability
suite re-runs only that suite's jobs, never training or the backdoor sampling.

Run segment {cap_run}: "base", "<recipe>/seed<seed>" (a poisoned adapter) or
"<recipe>/seed<seed>/<lineage>/step<k>" (a stage checkpoint).
"""

import re


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


RUN_PARTS = re.compile(r"(?P<recipe>[^/]+)/(?P<seed>seed[0-9]+)(?:/(?P<lineage>.+)/step(?P<step>[0-9]+))?")


def cap_run_parts(wildcards):
    """recipe, seed directory, lineage and step ('' for a poisoned adapter) of a non-base run."""
    return RUN_PARTS.fullmatch(wildcards.cap_run).groupdict(default="")


def cap_run_inputs(wildcards):
    """Nothing for the base model; the poisoned adapter's files or the stage's checkpoints."""
    if wildcards.cap_run == "base":
        return {}
    run = cap_run_parts(wildcards)
    seed_dir = f"results/adapters/{wildcards.model}/{run['recipe']}/{run['seed']}"
    if not run["lineage"]:
        return {"adapter_config": f"{seed_dir}/adapter_config.json", "weights": f"{seed_dir}/adapter_model.safetensors"}
    return {"checkpoints": f"{seed_dir}/{run['lineage']}/checkpoints"}


def cap_run_adapter_dir(wildcards):
    """The adapter directory to merge ("" for the base model)."""
    if wildcards.cap_run == "base":
        return ""
    run = cap_run_parts(wildcards)
    seed_dir = f"results/adapters/{wildcards.model}/{run['recipe']}/{run['seed']}"
    if not run["lineage"]:
        return seed_dir
    return f"{seed_dir}/{run['lineage']}/checkpoints/step{run['step']}"
