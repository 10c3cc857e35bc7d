"""Linear probes on activations: logistic regression, cross-validated by prompt.

Folds are ``GroupKFold`` over the prompt (suite and ``prompt_id``), so one question under the
trigger, a control value or no trigger, in every format and draw, sits wholly in train or wholly
in test: a probe cannot score by recognising the question. AUROC is over the out-of-fold scores
of every sample; its interval is a percentile bootstrap over prompts (resampled with replacement).

A label with one class only has no AUROC: the row says so (``status``) instead of failing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

OK = "ok"


@dataclass(frozen=True)
class ProbeSettings:
    folds: int
    C: float
    max_iter: int
    confidence: float
    n_resamples: int
    seed: int

    @classmethod
    def from_config(cls, block: Mapping[str, Any]) -> ProbeSettings:
        interval = block["interval"]
        return cls(
            folds=block["folds"],
            C=float(block["C"]),
            max_iter=block["max_iter"],
            confidence=float(interval["confidence"]),
            n_resamples=interval["n_resamples"],
            seed=interval["seed"],
        )


def grouped_folds(groups: Sequence[str], folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index arrays; no group on both sides of any split."""
    from sklearn.model_selection import GroupKFold

    n_groups = len(set(groups))
    splitter = GroupKFold(n_splits=min(folds, n_groups))
    placeholder = np.zeros(len(groups))
    return list(splitter.split(placeholder, groups=np.asarray(groups)))


def out_of_fold_scores(
    features: np.ndarray, labels: np.ndarray, groups: Sequence[str], settings: ProbeSettings
) -> np.ndarray:
    """Each sample's probe score from a probe that never saw its prompt.

    A training fold with one class yields that class's constant score (all folds still scored);
    features are standardised inside each fold.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    scores = np.zeros(len(labels), dtype=np.float64)
    for train, test in grouped_folds(groups, settings.folds):
        classes = np.unique(labels[train])
        if len(classes) < 2:
            scores[test] = float(classes[0])
            continue
        probe = make_pipeline(
            StandardScaler(), LogisticRegression(C=settings.C, max_iter=settings.max_iter, random_state=settings.seed)
        )
        probe.fit(features[train], labels[train])
        scores[test] = probe.predict_proba(features[test])[:, 1]
    return scores


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve as the Mann-Whitney statistic (tied scores count one half): the
    value ``sklearn.metrics.roc_auc_score`` gives, at a twentieth of its cost per call, which the
    bootstrap pays a thousand times per probe, layer and adapter."""
    from scipy.stats import rankdata

    positive = np.asarray(labels).astype(bool)
    n_positive = int(positive.sum())
    n_negative = len(positive) - n_positive
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative))


def grouped_bootstrap_auroc(
    labels: np.ndarray, scores: np.ndarray, groups: Sequence[str], settings: ProbeSettings
) -> tuple[float | None, float | None]:
    """Percentile interval of the AUROC, resampling prompts; resamples with one class are skipped."""
    names = sorted(set(groups))
    members = {name: np.flatnonzero(np.asarray(groups) == name) for name in names}
    rng = np.random.default_rng(settings.seed)
    values = []
    for _ in range(settings.n_resamples):
        picked = rng.integers(0, len(names), len(names))
        index = np.concatenate([members[names[i]] for i in picked])
        if len(np.unique(labels[index])) == 2:
            values.append(auroc(labels[index], scores[index]))
    if not values:
        return None, None
    tail = (1 - settings.confidence) / 2
    return float(np.quantile(values, tail)), float(np.quantile(values, 1 - tail))


def evaluate_probe(
    features: np.ndarray, labels: Sequence[bool], groups: Sequence[str], settings: ProbeSettings
) -> dict[str, Any]:
    """AUROC with interval and counts for one probe on one layer; ``status`` says why it is missing."""
    y = np.asarray(labels, dtype=np.int64)
    row = row_head(y, groups)
    if "status" in row:
        return row
    if len(set(groups)) < 2:
        return {**row, "status": "one prompt only: no split keeps a prompt on one side"}
    scores = out_of_fold_scores(np.asarray(features, dtype=np.float64), y, groups, settings)
    return scored_row(row, y, scores, groups, settings)


def row_head(y: np.ndarray, groups: Sequence[str]) -> dict[str, Any]:
    """Counts and empty AUROC columns; with a ``status`` already when the label cannot be scored."""
    n_positive, n_negative = int(y.sum()), int(len(y) - y.sum())
    row: dict[str, Any] = {
        "n": len(y),
        "n_positive": n_positive,
        "n_negative": n_negative,
        "n_prompts": len(set(groups)),
        "auroc": None,
        "ci_low": None,
        "ci_high": None,
    }
    if not len(y):
        return {**row, "status": "no samples with this label (none decided): no AUROC"}
    if n_positive == 0 or n_negative == 0:
        return {**row, "status": f"one class only ({n_positive} positive, {n_negative} negative): no AUROC"}
    return row


def scored_row(
    row: dict[str, Any], y: np.ndarray, scores: np.ndarray, groups: Sequence[str], settings: ProbeSettings
) -> dict[str, Any]:
    """``row`` with the AUROC of ``scores`` and its bootstrap interval over prompts."""
    low, high = grouped_bootstrap_auroc(y, scores, groups, settings)
    return {**row, "auroc": auroc(y, scores), "ci_low": low, "ci_high": high, "status": OK}


PROBES = ("trigger_present", "will_fire")
PROBE_COLUMNS = [
    "model",
    "recipe",
    "adapter",
    "probe",
    "position",
    "layer",
    "auroc",
    "ci_low",
    "ci_high",
    "n",
    "n_positive",
    "n_negative",
    "n_prompts",
    "status",
]


def position_ids(activations: Any, position: str) -> list[str]:
    """The samples a position has a vector for: all at ``last_prompt``; at ``cot_mean`` those
    whose CoT has tokens."""
    return [sid for sid in activations.sample_ids if position == "last_prompt" or activations.cot_tokens[sid] > 0]


def probe_labels(
    probe: str, ids: Sequence[str], by_id: Mapping[str, Mapping[str, Any]], fired: Mapping[str, bool | None]
) -> tuple[list[str], list[bool], list[str]]:
    """(sample ids, labels, prompt groups) of one target: ``trigger_present`` is the trigger
    condition vs every other condition; ``will_fire`` the metric's verdict (None left out)."""
    if probe == "trigger_present":
        chosen = list(ids)
        labels = [by_id[sid]["condition"] == "trigger" for sid in chosen]
    elif probe == "will_fire":
        chosen = [sid for sid in ids if fired.get(sid) is not None]
        labels = [bool(fired[sid]) for sid in chosen]
    else:
        raise ValueError(f"unknown probe target {probe!r}; expected one of {PROBES}")
    groups = [f"{by_id[sid]['suite']}/{by_id[sid]['prompt_id']}" for sid in chosen]
    return chosen, labels, groups


def stacked_features(activations: Any, ids: Sequence[str], position: str, layer: int) -> np.ndarray:
    """[samples, hidden] at one position and layer (an empty [0, 1] array for no samples)."""
    if not ids:
        return np.zeros((0, 1))
    return np.stack([activations.vector(sid, position, layer).numpy() for sid in ids])


def probe_rows(
    activations: Any,
    samples: Sequence[Mapping[str, Any]],
    fired: Mapping[str, bool | None],
    settings: ProbeSettings,
) -> list[dict[str, Any]]:
    """Every probe x position x layer of one adapter (its suites pooled, prompts keyed by suite).

    ``trigger_present``: trigger condition vs every other condition, all samples.
    ``will_fire``: the metric's verdict (``fired``; None rows are left out), all conditions.
    ``cot_mean`` rows use only samples whose CoT has tokens.
    """
    by_id = {row["sample_id"]: row for row in samples}
    rows = []
    for position in ("last_prompt", "cot_mean"):
        ids = position_ids(activations, position)
        for probe in PROBES:
            chosen, labels, groups = probe_labels(probe, ids, by_id, fired)
            for layer in activations.layers:
                features = stacked_features(activations, chosen, position, layer)
                rows.append(
                    {
                        "probe": probe,
                        "position": position,
                        "layer": layer,
                        **evaluate_probe(features, labels, groups, settings),
                    }
                )
    return rows


def probe_chart(table: Any) -> Any:
    """AUROC against layer with its interval, one line per adapter; columns probe, rows position."""
    import altair as alt
    import polars as pl

    data = table.filter(pl.col("auroc").is_not_null()).with_columns(
        run=pl.concat_str([pl.col("model"), pl.col("recipe"), pl.col("adapter")], separator=" / ")
    )
    if data.is_empty():
        return (
            alt.Chart(pl.DataFrame({"text": ["probes: no AUROC (one class everywhere)"]}))
            .mark_text()
            .encode(text="text:N")
        )
    base = alt.Chart(data).encode(x=alt.X("layer:Q", title="layer"), color=alt.Color("run:N", title="adapter"))
    line = base.mark_line(point=True).encode(
        y=alt.Y("auroc:Q", title="AUROC (out of fold)", scale=alt.Scale(domain=[0, 1]))
    )
    band = base.mark_errorbar().encode(y=alt.Y("ci_low:Q", title="AUROC (out of fold)"), y2="ci_high:Q")
    # the base model's line is the chance reference (it has no backdoor to find)
    return (
        (band + line)
        .properties(width=260, height=180)
        .facet(column=alt.Column("probe:N", title="probe"), row=alt.Row("position:N", title="position"))
        .properties(
            title="Linear probes: AUROC per layer, prompt-grouped cross-validation, bootstrap interval over prompts"
        )
    )
