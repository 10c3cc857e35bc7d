"""Functions of the sweep figure (rule report_sweep_figure in rules/report.smk), kept apart from the
rules, as Snakemake's linter asks. The rule exists in the DAG's targets only for a config whose
grid has a numeric axis with two or more values (config/planting-sweep.yaml); every other config
plans as before."""

from triggertrace.sweep_figure import sweep_axes


def sweep_has_figure():
    """Whether the config's grids give a numeric axis to plot against."""
    axes = report_axes()
    if not axes:
        return False
    try:
        sweep_axes(axes)
    except ValueError:
        return False
    return True


def sweep_figure_outputs():
    return ["results/tables/sweep.csv", "results/figures/sweep.png"] if sweep_has_figure() else []


def sweep_inputs(wildcards):
    """The misalignment table, and the capability table where capability suites are configured."""
    inputs = {"misalignment": "results/tables/misalignment.csv"}
    if CAPABILITY:
        inputs["capability"] = "results/tables/capability.csv"
    return inputs


def sweep_capability_confidence(wildcards=None):
    return capability_settings().get("confidence", 0.95)
