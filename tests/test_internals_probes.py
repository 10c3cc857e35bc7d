"""Probes: grouped folds never split a prompt; AUROC from out-of-fold scores; one class is a row."""

from __future__ import annotations

import numpy as np
import pytest

from triggertrace.internals.probes import ProbeSettings, auroc, evaluate_probe, grouped_folds

SETTINGS = ProbeSettings(folds=5, C=1.0, max_iter=1000, confidence=0.95, n_resamples=200, seed=0)


def prompts(n_prompts: int, per_prompt: int) -> list[str]:
    return [f"heldout/p{index // per_prompt}" for index in range(n_prompts * per_prompt)]


def test_no_prompt_on_both_sides_of_any_split():
    groups = prompts(7, 6)
    splits = grouped_folds(groups, 5)
    assert len(splits) == 5
    tested = []
    for train, test in splits:
        assert not {groups[i] for i in train} & {groups[i] for i in test}
        tested += test.tolist()
    assert sorted(tested) == list(range(len(groups)))  # every sample scored exactly once


def test_fewer_prompts_than_folds_uses_one_fold_per_prompt():
    assert len(grouped_folds(prompts(3, 4), 5)) == 3


def test_separable_label_scores_one_and_noise_scores_near_half():
    rng = np.random.default_rng(0)
    groups = prompts(20, 4)
    labels = np.array([index % 2 == 0 for index in range(len(groups))])
    features = rng.normal(size=(len(groups), 8))
    separable = features.copy()
    separable[:, 0] += np.where(labels, 5.0, -5.0)
    row = evaluate_probe(separable, labels, groups, SETTINGS)
    assert row["status"] == "ok" and row["auroc"] == 1.0 and abs(row["ci_low"] - 1.0) < 1e-12
    noise = evaluate_probe(features, labels, groups, SETTINGS)
    assert 0.25 < noise["auroc"] < 0.75
    assert noise["ci_low"] < noise["auroc"] < noise["ci_high"]
    assert (noise["n_positive"], noise["n_negative"], noise["n_prompts"]) == (40, 40, 20)


def test_one_class_is_a_row_not_a_crash():
    row = evaluate_probe(np.ones((6, 3)), [False] * 6, prompts(3, 2), SETTINGS)
    assert row["auroc"] is None
    assert row["status"] == "one class only (0 positive, 6 negative): no AUROC"


def test_auroc_counts_pairs_and_half_counts_ties():
    # positives 0.8, 0.4, 0.4; negatives 0.4, 0.1: of the 6 positive-negative pairs, 0.8 beats
    # both, each 0.4 beats 0.1 and ties 0.4 -> (2 + 1.5 + 1.5) / 6
    assert auroc(np.array([1, 1, 1, 0, 0]), np.array([0.8, 0.4, 0.4, 0.4, 0.1])) == 5 / 6
    assert auroc(np.array([0, 1]), np.array([0.9, 0.1])) == 0.0


def test_auroc_equals_scikit_learn_on_tied_scores():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    labels, scores = rng.integers(0, 2, 300), np.round(rng.random(300), 1)  # many ties
    assert auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), rel=1e-12)
