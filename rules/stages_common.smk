"""Functions of rules/stages.smk (kept apart, as Snakemake's lint asks). Adapter lineage: the base model with no adapter, stages after poisoning (continued SFT, GRPO),
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
    """Final targets the lineage adds: persistence report with stages, RL report with a grpo stage."""
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
    shape = model_shape(wildcards.model)
    prompt_tokens = config["cluster"]["prompt_tokens"]
    sampling = estimate.sampling_runtime_min(model, shape, completions, generation, prompt_tokens, attempt)
    return sampling + estimate.training_runtime_min(model, completions, length, attempt)


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


def grpo_plans():
    return [plan for plan in STAGE_PLANS.values() if plan.entry["kind"] == "grpo"]
