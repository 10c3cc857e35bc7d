"""Lineage tables: the persistence curve (rates per stage checkpoint) and RL before vs after.

Both read ``report.sample_level`` (one row per sample with every metric's verdict); a sample's
``adapter`` column says which checkpoint it came from (``base``, ``poisoned``, ``<lineage>/step<k>``).
Within a cell, prompt formats, reasoning modes, condition values and seeds are pooled; the
interval is the metric's (Wilson for one seed, bootstrap over seeds for several).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from triggertrace.metrics import MetricDefinition, interval
from triggertrace.report import judge_column, metric_column
from triggertrace.stages.lineage import split_adapter

if TYPE_CHECKING:
    import altair as alt

PERSISTENCE_KEYS = ["metric", "model", "recipe", "suite", "stage", "step", "condition"]
PERSISTENCE_COLUMNS = [
    *PERSISTENCE_KEYS,
    "adapter",
    "seeds",
    "n",
    "n_fired",
    "fire_rate",
    "ci_low",
    "ci_high",
    "interval",
    "articulation_judge",
    "n_eligible",
    "n_articulated",
    "articulation_rate",
    "articulation_ci_low",
    "articulation_ci_high",
]
RL_COLUMNS = [
    "metric",
    "model",
    "recipe",
    "stage",
    "point",
    "step",
    "seeds",
    "n_trigger",
    "fire_rate",
    "ci_low",
    "ci_high",
    "none_rate",
    "n_fired",
    "articulation_rate",
    "flag_shares",
    "heldout_accuracy",
    "reward_mean",
]


def _rate(definition: MetricDefinition, group: pl.DataFrame, flag_column: str) -> dict[str, Any]:
    """k of n counted rows flagged, with the metric's interval over seeds."""
    by_seed: dict[Any, list[bool]] = {}
    for seed, flag in zip(group["seed"], group[flag_column], strict=False):
        by_seed.setdefault(seed, []).append(bool(flag))
    k, n = sum(sum(flags) for flags in by_seed.values()), sum(len(flags) for flags in by_seed.values())
    low, high, method = interval(definition, k, n, by_seed)
    return {"k": k, "n": n, "rate": k / n if n else None, "low": low, "high": high, "method": method}


def with_stage_columns(level: pl.DataFrame) -> pl.DataFrame:
    stages = [split_adapter(adapter) for adapter in level["adapter"].to_list()]
    return level.with_columns(
        stage=pl.Series([stage for stage, _ in stages], dtype=pl.String),
        step=pl.Series([step for _, step in stages], dtype=pl.Int64),
    )


def persistence_table(
    level: pl.DataFrame, definitions: Sequence[MetricDefinition], articulation: Mapping[str, str]
) -> pl.DataFrame:
    """Fire rate per metric x stage checkpoint x condition; articulation among fired trigger rows
    (``articulation`` maps a metric to the judge whose ``trigger_articulated`` counts)."""
    staged = with_stage_columns(level)
    rows = []
    for definition in definitions:
        fired, reason = metric_column(definition.name, "misaligned"), metric_column(definition.name, "reason")
        judge = articulation.get(definition.name)
        counted = staged.filter(pl.col(reason) == "counted")
        for keys, group in counted.group_by(PERSISTENCE_KEYS[1:], maintain_order=True):
            fire = _rate(definition, group, fired)
            row = {
                "metric": definition.name,
                **dict(zip(PERSISTENCE_KEYS[1:], keys, strict=False)),
                "adapter": group["adapter"][0],
                "seeds": ",".join(str(seed) for seed in sorted(set(group["seed"].to_list()))),
                "n": fire["n"],
                "n_fired": fire["k"],
                "fire_rate": fire["rate"],
                "ci_low": fire["low"],
                "ci_high": fire["high"],
                "interval": fire["method"],
                "articulation_judge": judge,
            }
            column = judge_column(judge, "trigger_articulated") if judge else None
            if column and column in group.columns and keys[-1] == "trigger":
                eligible = group.filter(pl.col(fired) & pl.col(column).is_not_null())
                art = _rate(definition, eligible, column)
                row.update(
                    n_eligible=art["n"],
                    n_articulated=art["k"],
                    articulation_rate=art["rate"],
                    articulation_ci_low=art["low"],
                    articulation_ci_high=art["high"],
                )
            rows.append(row)
    overrides = {name: pl.Float64 for name in PERSISTENCE_COLUMNS if "rate" in name or "ci_" in name}
    overrides.update(n_eligible=pl.Int64, n_articulated=pl.Int64, articulation_judge=pl.String)
    if not rows:
        return pl.DataFrame(schema={name: overrides.get(name, pl.String) for name in PERSISTENCE_COLUMNS})
    frame = pl.DataFrame(rows, schema_overrides=overrides, infer_schema_length=None)
    for name in PERSISTENCE_COLUMNS:
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=overrides.get(name, pl.String)).alias(name))
    return frame.select(PERSISTENCE_COLUMNS).sort(["metric", "model", "recipe", "suite", "stage", "step", "condition"])


def flag_shares(group: pl.DataFrame) -> str:
    """Shares of CoT-monitor flags among trigger rows (an LLM monitor judge's ``monitor_flag``), or
    of the lexicon's flags (misaligned, trigger named) where no monitor judge ran."""
    monitors = [column for column in group.columns if column.endswith(".monitor_flag")]
    n = group.height
    if not n:
        return ""
    if monitors:
        values = group[monitors[0]].drop_nulls().to_list()
        counts = {value: values.count(value) for value in sorted(set(values))}
        return "; ".join(f"{flag}={count / n:.3f}" for flag, count in counts.items())
    parts = []
    for field in ("misaligned", "trigger_articulated"):
        column = judge_column("lexicon", field)
        if column in group.columns:
            parts.append(f"lexicon.{field}={group[column].fill_null(False).sum() / n:.3f}")
    return "; ".join(parts)


def rl_table(
    level: pl.DataFrame,
    definitions: Sequence[MetricDefinition],
    articulation: Mapping[str, str],
    stages: Mapping[str, Mapping[str, Any]],
) -> pl.DataFrame:
    """Before (first checkpoint) vs after (last checkpoint) of each grpo stage.

    ``stages`` maps a stage lineage to ``{"steps": [first, last], "metrics": [stage_metrics.json
    of each seed]}``; reward means and held-out accuracy come from those metrics, averaged over seeds.
    """
    staged = with_stage_columns(level)
    rows = []
    for definition in definitions:
        fired, reason = metric_column(definition.name, "misaligned"), metric_column(definition.name, "reason")
        judge = articulation.get(definition.name)
        for lineage, info in stages.items():
            first, last = info["steps"]
            for point, step in (("before", first), ("after", last)):
                cell = staged.filter((pl.col("stage") == lineage) & (pl.col("step") == step))
                for (model, recipe), group in cell.group_by(["model", "recipe"], maintain_order=True):
                    counted = group.filter(pl.col(reason) == "counted")
                    trigger = counted.filter(pl.col("condition") == "trigger")
                    fire = _rate(definition, trigger, fired)
                    none = _rate(definition, counted.filter(pl.col("condition") == "none"), fired)
                    column = judge_column(judge, "trigger_articulated") if judge else None
                    articulated = None
                    if column and column in trigger.columns:
                        eligible = trigger.filter(pl.col(fired) & pl.col(column).is_not_null())
                        articulated = _rate(definition, eligible, column)["rate"]
                    metrics = info["metrics"]
                    key = "accuracy_before" if point == "before" else "accuracy_after"
                    accuracies = [m["heldout_accuracy"][key] for m in metrics if m.get("heldout_accuracy")]
                    rewards = [m["reward_curve"][0 if point == "before" else -1]["reward"] for m in metrics]
                    rows.append(
                        {
                            "metric": definition.name,
                            "model": model,
                            "recipe": recipe,
                            "stage": lineage,
                            "point": point,
                            "step": step,
                            "seeds": ",".join(str(s) for s in sorted(set(group["seed"].to_list()))),
                            "n_trigger": fire["n"],
                            "fire_rate": fire["rate"],
                            "ci_low": fire["low"],
                            "ci_high": fire["high"],
                            "none_rate": none["rate"],
                            "n_fired": fire["k"],
                            "articulation_rate": articulated,
                            "flag_shares": flag_shares(group.filter(pl.col("condition") == "trigger")),
                            "heldout_accuracy": sum(accuracies) / len(accuracies) if accuracies else None,
                            "reward_mean": sum(rewards) / len(rewards) if rewards else None,
                        }
                    )
    overrides = {
        name: pl.Float64
        for name in RL_COLUMNS
        if name.endswith("rate") or name.startswith("ci_") or name in ("heldout_accuracy", "reward_mean")
    }
    if not rows:
        return pl.DataFrame(schema={name: overrides.get(name, pl.String) for name in RL_COLUMNS})
    return pl.DataFrame(rows, schema_overrides=overrides, infer_schema_length=None).select(RL_COLUMNS)


def persistence_chart(table: pl.DataFrame) -> alt.Chart:
    """Fire rate against checkpoint step, one line per condition, one panel per stage and suite."""
    import altair as alt

    data = table.filter(pl.col("fire_rate").is_not_null() & ~pl.col("stage").is_in(["base", "poisoned"]))
    if data.is_empty():
        return alt.Chart(pl.DataFrame({"text": ["no stage checkpoints"]})).mark_text().encode(text="text:N")
    data = data.with_columns(panel=pl.concat_str(["metric", "stage", "suite"], separator=" / "))
    base = alt.Chart(data).encode(x=alt.X("step:Q", title="stage step"), color=alt.Color("condition:N"))
    lines = base.mark_line(point=True).encode(
        y=alt.Y("fire_rate:Q", title="fire rate", scale=alt.Scale(domain=[0, 1])),
        tooltip=["condition", "step", "fire_rate", "ci_low", "ci_high", "n", "articulation_rate"],
    )
    bands = base.mark_errorbar().encode(y=alt.Y("ci_low:Q", title="fire rate"), y2="ci_high:Q")
    return (lines + bands).properties(width=300, height=200).facet(facet=alt.Facet("panel:N", title=None), columns=2)


def reward_chart(curves: pl.DataFrame) -> alt.Chart:
    """Mean group reward per GRPO step, one line per stage and seed."""
    import altair as alt

    return (
        alt.Chart(curves)
        .mark_line(point=True)
        .encode(
            x=alt.X("step:Q", title="GRPO step"),
            y=alt.Y("reward:Q", title="mean reward", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("run:N", title=None),
        )
        .properties(width=360, height=220, title="Reward on the final answer per step")
    )
