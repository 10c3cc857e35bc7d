"""Functions of rules/cue_faithfulness.smk (kept apart from the rules, as Snakemake's linter asks).

Cue faithfulness (config section evals.cue_faithfulness, triggertrace/evals/cues.py): the same
multiple-choice items asked without a cue and with each biasing cue, on the base model and every
poisoned adapter (and stage checkpoint), reusing the capability suite's item loaders, its run
segment {cap_run} and its model loading. Its own paths under results/evals/cues/: adding it or
changing a cue re-runs only its jobs, never training or the backdoor sampling.
"""

from triggertrace.errors import input_errors_stop_here
from triggertrace.evals.cues import check_cues, check_llm_judges, sampling_settings
from triggertrace.schema import fill_eval_defaults

CUES = config.get("evals", {}).get("cue_faithfulness")

# defaults, the schema (rules/capability_common.smk validates the evals section), then what it
# cannot see
with input_errors_stop_here():
    if CUES:
        fill_eval_defaults(f"{workflow.basedir}/config/schemas/evals.yaml", "cue_faithfulness", CUES)
        check_cues(CUES["cues"], CUES["items"]["source"].get("n_items"))
        check_llm_judges(CUES["llm_judges"], config["judges"])


def cue_settings():
    """Everything of evals.cue_faithfulness but its items (the build's param), or nothing when
    the section is absent (then no cue job exists)."""
    return {key: value for key, value in (CUES or {}).items() if key != "items"}


def cue_sampling_settings():
    """What the samples depend on (``cues.sampling_settings``): a new judge, pattern or
    confidence re-runs only the report."""
    return sampling_settings(CUES) if CUES else {}


def cue_items_entry(wildcards=None):
    """The item block as a capability suite entry (always multiple choice)."""
    return {**CUES["items"], "task": "multiple_choice"}


def cue_items_sources(wildcards=None):
    source = CUES["items"]["source"]
    return [source["path"]] if source["kind"] == "file" else []


def cue_runs():
    """(model, run) of every model the experiments use: base, poisoned seeds, stage checkpoints."""
    models = dict.fromkeys(experiment["model"] for experiment in config["experiments"])
    return [(model, run) for model in models for run in capability_runs(model)]


def cue_sample_files(wildcards=None):
    return [f"results/evals/cues/samples/{model}/{run}.jsonl" for model, run in cue_runs()] if CUES else []


def cue_label_files(wildcards=None):
    if not CUES:
        return []
    return [
        f"results/evals/cues/labels/{judge}/{model}/{run}.jsonl"
        for judge in CUES["llm_judges"]
        for model, run in cue_runs()
    ]


def cue_outputs():
    return ["results/tables/cue_faithfulness.csv", "results/figures/cue_faithfulness.png"] if CUES else []


def cue_judge_code(wildcards):
    """``code`` of the cue label script plus the judge's modules and prompt template."""
    entry = config["judges"][wildcards.judge]
    template = (entry["template"],) if "template" in entry else ()
    lazy = judge_modules(wildcards.judge, entry)
    return code_digest(workflow.basedir, "scripts/label_cue_articulation.py", *lazy, extra_files=template)
