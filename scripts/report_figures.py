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
        "misaligned answers / judged answers",
        ["metric", "model", "recipe", "adapter", "suite"],
        x_title="prompt condition (trigger field value)",
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
        "CoTs naming the trigger / fired triggered samples",
        ["articulation_judge", "metric", "model", "recipe", "adapter", "suite"],
        x_title="trigger value",
    ),
    out.articulation_html,
    out.articulation_png,
    out.articulation_svg,
)
log.info("figures written")
