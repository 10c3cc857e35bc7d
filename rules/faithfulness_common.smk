"""Functions of rules/faithfulness.smk (kept apart from the rules, as Snakemake's linter asks)."""

from triggertrace.evals.faithfulness import monitor_judges


def faithfulness_pairs(wildcards=None):
    """(metric, articulation judge) of every report.articulation entry."""
    return [[entry["metric"], entry["judge"]] for entry in config["report"]["articulation"]]


def monitor_pairs(wildcards=None):
    """(metric, monitor judge) for every report metric and every LLM monitor judge labelling."""
    monitors = monitor_judges(config["judges"], report_judges(config))
    return [[metric, judge] for metric in config["report"]["metrics"] for judge in monitors]


def faithfulness_outputs():
    """Targets of the run: the matrix always, the monitor table where a monitor judge labels."""
    outputs = ["results/tables/faithfulness.csv", "results/figures/faithfulness.png"]
    if monitor_pairs():
        outputs.append("results/tables/monitor_flags.csv")
    return outputs


def pair_confidences(wildcards=None):
    """The interval confidence of each report metric (the Wilson intervals use it)."""
    return {name: block["interval"]["confidence"] for name, block in report_metric_entries().items()}
