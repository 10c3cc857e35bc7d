"""Steering: a difference-of-means direction added to the residual stream while sampling.

The direction at layer ``l`` is mean(trigger) - mean(control) of the ``last_prompt`` activations
(``triggertrace.internals.activations``) over an adapter's samples; steering adds ``alpha`` times
it to the output of the same module at every position of every decoding step, so ``alpha = 1``
moves a control prompt's mean onto the trigger mean at that layer. ``alpha = 0`` registers no hook
at all: the samples are those of the unsteered sampling call, byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from triggertrace.internals.activations import layer_module

POSITIVE, NEGATIVE = "trigger", "control"


def difference_of_means(
    vectors: Mapping[str, Any], conditions: Mapping[str, str], positive: str = POSITIVE, negative: str = NEGATIVE
) -> Any:
    """mean over samples whose condition is ``positive`` minus mean over ``negative`` ([hidden])."""
    import torch

    groups = {
        name: [vector for sample_id, vector in sorted(vectors.items()) if conditions[sample_id] == name]
        for name in (positive, negative)
    }
    for name, members in groups.items():
        if not members:
            raise ValueError(f"no {name} samples to take a mean over; sample the {name} condition")
    return torch.stack(groups[positive]).mean(dim=0) - torch.stack(groups[negative]).mean(dim=0)


@contextmanager
def steered(model: Any, layer: int, direction: Any, alpha: float) -> Iterator[None]:
    """``alpha * direction`` added to the output of ``layer`` while the block runs."""
    if alpha == 0:
        yield
        return
    module = layer_module(model, layer)
    param = next(model.parameters())
    shift = (alpha * direction).to(device=param.device, dtype=param.dtype)

    def hook(module: Any, inputs: Any, output: Any) -> Any:
        if isinstance(output, tuple):
            return (output[0] + shift, *output[1:])
        return output + shift

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def steering_sampling(sampling: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The sampling settings of steered runs: the pipeline's, with ``internals.steering.sampling`` on top."""
    return {**sampling, **overrides}


def fire_groups(conditions: Sequence[str]) -> list[str]:
    """Conditions in the order the steering figure shows them."""
    order = ["trigger", "none", "control", "distractor"]
    return [name for name in order if name in conditions]


def steering_table(levels: Mapping[float, Any], definition: Any, articulation_judge: str) -> Any:
    """Fire rate per alpha x condition x format x reasoning mode, and articulation among fired
    triggered samples; ``levels`` maps alpha to ``report.sample_level`` of that alpha's samples."""
    import polars as pl

    from triggertrace.report import articulation_table, misalignment_table

    parts = []
    for alpha, level in sorted(levels.items()):
        fire = (
            misalignment_table(level, [definition])
            .select(
                "model",
                "recipe",
                "adapter",
                "suite",
                "condition_label",
                "prompt_format",
                "reasoning_mode",
                "n",
                "rate",
                "ci_low",
                "ci_high",
                "interval",
            )
            .with_columns(measure=pl.lit("fire rate"))
        )
        articulated = (
            articulation_table(level, [(articulation_judge, definition)])
            .select(
                "model",
                "recipe",
                "adapter",
                "suite",
                pl.concat_str([pl.lit("trigger: "), pl.col("condition_value")]).alias("condition_label"),
                "prompt_format",
                "reasoning_mode",
                pl.col("n_eligible").alias("n"),
                "rate",
                "ci_low",
                "ci_high",
                "interval",
            )
            .with_columns(measure=pl.lit("articulation among fired"))
        )
        parts += [part.with_columns(alpha=pl.lit(float(alpha))) for part in (fire, articulated)]
    columns = [
        "model",
        "recipe",
        "adapter",
        "suite",
        "measure",
        "condition_label",
        "prompt_format",
        "reasoning_mode",
        "alpha",
        "n",
        "rate",
        "ci_low",
        "ci_high",
        "interval",
    ]
    return pl.concat([part.select(columns) for part in parts], how="vertical_relaxed").sort(columns[:9])


def steering_chart(table: Any, layer: int) -> Any:
    """Rate against alpha with intervals, one line per condition; columns measure, rows run and format."""
    import altair as alt
    import polars as pl

    data = table.filter(pl.col("rate").is_not_null()).with_columns(
        run=pl.concat_str(["model", "recipe", "suite", "prompt_format", "reasoning_mode"], separator=" / ")
    )
    if data.is_empty():
        return alt.Chart(pl.DataFrame({"text": ["steering: no decided samples"]})).mark_text().encode(text="text:N")
    base = alt.Chart(data).encode(
        x=alt.X("alpha:Q", title=f"steering scale alpha (x trigger-minus-control direction, layer {layer})"),
        color=alt.Color("condition_label:N", title="condition"),
    )
    lines = base.mark_line(point=True).encode(y=alt.Y("rate:Q", title="rate", scale=alt.Scale(domain=[0, 1])))
    bars = base.mark_errorbar().encode(y=alt.Y("ci_low:Q", title="rate"), y2="ci_high:Q")
    return (
        (bars + lines)
        .properties(width=260, height=180)
        .facet(
            column=alt.Column("measure:N", title=None),
            row=alt.Row("run:N", title=None, header=alt.Header(labelAngle=0, labelOrient="top", labelAnchor="start")),
        )
        .properties(title="Steering along the trigger direction: fire rate and articulation against alpha")
    )
