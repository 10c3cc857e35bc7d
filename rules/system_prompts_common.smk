"""Functions of rules/system_prompts.smk (kept apart from the rules, as Snakemake's linter asks),
and its include: the rules exist only when the config has an `evals.system_prompts` section
(config/system-prompts.yaml), so the default DAG is unchanged.

System-prompt following, chat vs raw completion: rule-checked instructions in the system prompt,
sampled on the base model, every poisoned adapter and every stage checkpoint. The run segment is
the capability suites' {cap_run} ("base", "<recipe>/seed<seed>", or
"<recipe>/seed<seed>/<lineage>/step<k>"), so the runs and their input functions are theirs
(rules/capability_common.smk). Own paths under results/evals/system_prompts/: adding the suite
samples only its jobs, never training or the backdoor sampling.
"""

from triggertrace.errors import input_errors_stop_here
from triggertrace.evals.system_prompts import check_instructions, draw_questions
from triggertrace.schema import fill_eval_defaults
from triggertrace.stages.lineage import validate_lineage as validate_against_schema

SYSTEM_PROMPTS = config.get("evals", {}).get("system_prompts")

if SYSTEM_PROMPTS is not None:
    # Defaults (the shipped overlay's values), then the schema and what it cannot say: one line
    # naming the key, before any job.
    with input_errors_stop_here():
        fill_eval_defaults(f"{workflow.basedir}/config/schemas/evals.yaml", "system_prompts", SYSTEM_PROMPTS)
        validate_against_schema(config, f"{workflow.basedir}/config/schemas/evals.yaml")
        check_instructions(SYSTEM_PROMPTS["instructions"])
        SYSTEM_PROMPT_QUESTIONS = draw_questions(SYSTEM_PROMPTS["questions"]["n"], SYSTEM_PROMPTS["questions"]["seed"])


def system_prompt_run_kind(run):
    """base, adapters or stages: which `runs` entry selects ``run``."""
    if run == "base":
        return "base"
    # a stage checkpoint's run names its lineage (rules/capability_common.smk's RUN_PARTS)
    return "stages" if RUN_PARTS.fullmatch(run)["lineage"] else "adapters"


def system_prompt_sample_files(wildcards=None):
    """One samples file per model run the section's `runs` select, for every experiment's model."""
    models = dict.fromkeys(experiment["model"] for experiment in config["experiments"])
    return [
        f"results/evals/system_prompts/samples/{model}/{run}.jsonl"
        for model in models
        for run in capability_runs(model)
        if system_prompt_run_kind(run) in SYSTEM_PROMPTS["runs"]
    ]


def system_prompt_outputs():
    if SYSTEM_PROMPTS is None:
        return []
    return ["results/tables/system_prompts.csv", "results/figures/system_prompts.png"]


if SYSTEM_PROMPTS is not None:

    include: "system_prompts.smk"
