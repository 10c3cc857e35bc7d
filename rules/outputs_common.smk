"""Input functions and params of the report's outputs (rules/report.smk, rules/outputs.smk); kept
apart from the rules, as Snakemake's linter asks."""

from triggertrace.explorer import ASSET_FILES
from triggertrace.metrics import MetricDefinition

# The explorer page inlines these files: their text is code of the explorer rule.
EXPLORER_ASSETS = tuple(f"triggertrace/explorer_assets/{name}" for name in ASSET_FILES)


def report_metric_descriptions(wildcards=None):
    """One line per report metric (name, version, exact rule), for the report's captions."""
    return [MetricDefinition.from_config(name, block).describe() for name, block in report_metric_entries().items()]


def inspect_log_files(wildcards=None):
    """One .eval per sampling job, in the order of sample_files()."""
    return [
        f"results/inspect/{model}/{recipe}/seed{seed}/{suite}.eval" for model, recipe, seed, suite in experiment_runs()
    ]


def explorer_trigger_aliases(wildcards=None):
    """Other surface forms of each trigger value (the report judges' ``trigger_aliases``), so that
    the explorer highlights the same CoT spans the lexicon judge counts as naming the trigger."""
    aliases = {}
    for judge in report_judges(config):
        for value, forms in config["judges"][judge].get("trigger_aliases", {}).items():
            aliases.setdefault(value, []).extend(form for form in forms if form not in aliases.get(value, []))
    return aliases
