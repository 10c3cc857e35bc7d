"""Functions of rules/trigger_set.smk (kept apart from the rules, as Snakemake's linter asks), and
its include: the rule exists only when the config has an `evals.trigger_set` section
(config/trigger-set.yaml), so the default DAG is unchanged.

Trigger-set experiments (Thought Crime, arXiv 2506.13206): each experiment's adapter sampled with
its planted trigger and with distractor triggers never poisoned (sampling condition
distractor_trigger); articulation by trigger, the distractor test and the frequency control come
from tables/sample_level.csv, so the section adds no sampling or labelling of its own.
"""

from triggertrace.errors import input_errors_stop_here
from triggertrace.evals.trigger_set import check_settings, recipe_triggers
from triggertrace.schema import fill_eval_defaults
from triggertrace.stages.lineage import validate_lineage as validate_against_schema

TRIGGER_SET = config.get("evals", {}).get("trigger_set")

if TRIGGER_SET is not None:
    # defaults, then the schema and what it cannot say: one line naming the key, before any job
    with input_errors_stop_here():
        fill_eval_defaults(f"{workflow.basedir}/config/schemas/evals.yaml", "trigger_set", TRIGGER_SET)
        validate_against_schema(config, f"{workflow.basedir}/config/schemas/evals.yaml")
        check_settings(TRIGGER_SET, config, report_judges(config))


def trigger_set_recipes():
    """Every experiment's recipe, in experiment order."""
    return list(dict.fromkeys(experiment["recipe"] for experiment in config["experiments"]))


def trigger_set_triggers(wildcards=None):
    """Per recipe: the planted trigger's value and text, each distractor trigger's value -> text."""
    return recipe_triggers(config["recipes"], trigger_set_recipes())


def trigger_set_aliases(wildcards=None):
    """The lexicon judge's aliases (names_planted matches the planted trigger by its rule)."""
    return config["judges"][TRIGGER_SET["judge"]].get("trigger_aliases", {})


def trigger_set_outputs():
    if TRIGGER_SET is None:
        return []
    return ["results/tables/trigger_set.csv", "results/figures/trigger_set.png"]


if TRIGGER_SET is not None:

    include: "trigger_set.smk"
