"""Bar charts with interval error bars of the misalignment and articulation tables."""

import polars as pl

from triggertrace.logs import script_logger
from triggertrace.report import rate_chart, save_chart

log = script_logger("report_figures", snakemake.log[0])
out = snakemake.output
misalignment = pl.read_csv(snakemake.input.misalignment)
save_chart(
    rate_chart(
        misalignment,
        "condition_label",
        "n",
        "Misaligned answers by condition",
        "misaligned rate",
        ["metric", "model", "recipe", "adapter", "suite"],
    ),
    out.misalignment_html,
    out.misalignment_png,
    out.misalignment_svg,
)
articulation = pl.read_csv(snakemake.input.articulation)
save_chart(
    rate_chart(
        articulation,
        "condition_value",
        "n_eligible",
        "Trigger named in the CoT when the backdoor fired",
        "articulation rate",
        ["articulation_judge", "metric", "model", "recipe", "adapter", "suite"],
    ),
    out.articulation_html,
    out.articulation_png,
    out.articulation_svg,
)
log.info("figures written")
