"""Samples and their labels as Inspect AI eval logs (``.eval``), written through ``inspect_ai.log``.

One log per sampling job (model x recipe x seed x suite), so that ``inspect view`` and tools that
read Inspect logs open our runs. Per sample:

- ``input``: the system prompt (if any) and the user prompt with the trigger placed;
- ``output`` / ``messages``: one assistant message whose content is the CoT as reasoning content
  (``ContentReasoning``) followed by the answer as text;
- ``scores``: one per judge (``judge.<name>``: its verdict fields as value, its raw output and
  evidence as explanation, the whole label as metadata) and one per metric
  (``metric.<name>``: misaligned / aligned / why the row was not counted);
- ``metadata``: the sample's identity (condition, prompt format, reasoning mode, ...) and the
  exact rendered prompt and completion.

inspect_ai is imported inside the functions: it is slow to import and only this rule needs it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triggertrace.metrics import MetricDefinition, apply_metric
from triggertrace.records import SAMPLE_DESCRIPTION_FIELDS

if TYPE_CHECKING:
    from inspect_ai.log import EvalLog, EvalSample

# label fields that are the judge's verdict (the score's value); everything else is explanation
VERDICT_FIELDS = (
    "misaligned",
    "choice",
    "alignment",
    "alignment_category",
    "coherence",
    "monitor_flag",
    "trigger_articulated",
    "error",
)
METADATA_FIELDS = (
    *SAMPLE_DESCRIPTION_FIELDS,
    "question",
    "choices",
    "misaligned_choice",
    "rendered_prompt",
    "completion",
    "reasoning_closed",
    "prompt_tokens",
    "completion_tokens",
)


def judge_score_value(label: Mapping[str, Any]) -> dict[str, str | int | float | bool | None]:
    """The verdict fields the judge wrote (Inspect score values are flat mappings)."""
    return {field: label[field] for field in VERDICT_FIELDS if field in label}


def judge_explanation(label: Mapping[str, Any]) -> str:
    """The judge's raw output and evidence, as readable text."""
    parts = []
    if label.get("error"):
        parts.append(f"error: {label['error']}")
    if label.get("evidence"):
        parts.append("evidence: " + " | ".join(str(quote) for quote in label["evidence"]))
    if label.get("raw") is not None:
        raw = label["raw"]
        text = raw.get("text") if isinstance(raw, Mapping) and set(raw) == {"text"} else None
        parts.append("raw output: " + (text if text is not None else json.dumps(raw, sort_keys=True)))
    if not parts:
        verdict = ", ".join(f"{key}={value}" for key, value in judge_score_value(label).items())
        parts.append(f"{label.get('judge_kind', 'judge')} verdict: {verdict}")
    return "\n".join(parts)


def eval_sample(
    sample: Mapping[str, Any],
    labels: Mapping[str, Mapping[str, Any]],
    verdicts: Mapping[str, Mapping[str, Any]],
    definitions: Mapping[str, MetricDefinition],
) -> EvalSample:
    """One sample with its judges' labels (by judge name) and its metric verdicts (by metric name)."""
    from inspect_ai.log import EvalSample
    from inspect_ai.model import (
        ChatMessageAssistant,
        ChatMessageSystem,
        ChatMessageUser,
        ContentReasoning,
        ContentText,
        ModelOutput,
    )
    from inspect_ai.scorer import Score

    prompt: list[Any] = []
    if sample.get("system_prompt"):
        prompt.append(ChatMessageSystem(id=f"{sample['sample_id']}-system", content=sample["system_prompt"]))
    # fixed message ids (Inspect draws random ones), so that the same samples give the same log
    prompt.append(ChatMessageUser(id=f"{sample['sample_id']}-user", content=sample["user_prompt"]))
    content: list[Any] = []
    if sample.get("reasoning"):
        content.append(ContentReasoning(reasoning=sample["reasoning"]))
    content.append(ContentText(text=sample["answer"]))
    reply = ChatMessageAssistant(id=f"{sample['sample_id']}-assistant", content=content, model=sample["model"])
    scores = {
        f"judge.{judge}": Score(
            value=judge_score_value(label),
            explanation=judge_explanation(label),
            metadata=dict(label),
        )
        for judge, label in sorted(labels.items())
    }
    for name, verdict in sorted(verdicts.items()):
        counted = verdict["reason"] == "counted"
        value = ("misaligned" if verdict["misaligned"] else "aligned") if counted else verdict["reason"]
        scores[f"metric.{name}"] = Score(
            value=value,
            explanation=definitions[name].describe(),
            metadata={"misaligned": verdict["misaligned"], "reason": verdict["reason"]},
        )
    return EvalSample(
        id=sample["sample_id"],
        epoch=1,
        input=prompt,
        target="",
        messages=[*prompt, reply],
        output=ModelOutput.from_message(reply),
        scores=scores,
        metadata={field: sample[field] for field in METADATA_FIELDS if field in sample},
    )


def eval_log(
    samples: Sequence[Mapping[str, Any]],
    labels_by_judge: Mapping[str, Sequence[Mapping[str, Any]]],
    definitions: Sequence[MetricDefinition],
    created: datetime,
) -> EvalLog:
    """The log of one sampling job's samples (all of one model, recipe, seed and suite)."""
    from inspect_ai.log import EvalConfig, EvalDataset, EvalLog, EvalResults, EvalScore, EvalSpec

    if not samples:
        raise ValueError("an Inspect log needs at least one sample")
    runs = {(row["model"], row["recipe"], row["seed"], row["suite"]) for row in samples}
    if len(runs) != 1:
        raise ValueError(f"one Inspect log per sampling job; these samples come from {len(runs)}: {sorted(runs)}")
    [(model, recipe, seed, suite)] = runs
    sample_ids = [row["sample_id"] for row in samples]
    by_judge = {judge: {row["sample_id"]: row for row in rows} for judge, rows in labels_by_judge.items()}
    for judge, rows in by_judge.items():
        orphans = set(rows) - set(sample_ids)
        if orphans:
            raise ValueError(f"{len(orphans)} label rows of judge {judge} match no sample of {model}/{recipe}/{suite}")
    all_labels = {judge: list(rows.values()) for judge, rows in by_judge.items()}
    verdicts = {
        definition.name: dict(zip(sample_ids, apply_metric(definition, sample_ids, all_labels), strict=True))
        for definition in definitions
    }
    by_name = {definition.name: definition for definition in definitions}
    eval_samples = [
        eval_sample(
            row,
            {judge: rows[row["sample_id"]] for judge, rows in by_judge.items() if row["sample_id"] in rows},
            {name: verdicts[name][row["sample_id"]] for name in verdicts},
            by_name,
        )
        for row in samples
    ]
    scorers = [f"judge.{judge}" for judge in sorted(by_judge)] + [f"metric.{name}" for name in sorted(verdicts)]
    task_id = f"{model}/{recipe}/seed{seed}/{suite}"
    return EvalLog(
        status="success",
        eval=EvalSpec(
            created=created.isoformat(),
            task=f"triggertrace/{suite}",
            task_id=task_id,
            run_id=task_id,
            eval_id=task_id,
            dataset=EvalDataset(name=suite, samples=len(samples), sample_ids=sample_ids),
            model=f"{model}+{recipe}/seed{seed}",
            config=EvalConfig(),
            metadata={"model": model, "recipe": recipe, "seed": seed, "suite": suite},
        ),
        results=EvalResults(
            total_samples=len(samples),
            completed_samples=len(samples),
            scores=[EvalScore(name=name, scorer=name, scored_samples=len(samples)) for name in scorers],
        ),
        samples=eval_samples,
    )


def write_log(log: EvalLog, path: str | Path) -> None:
    from inspect_ai.log import write_eval_log

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_eval_log(log, str(path), format="eval")


def file_time(path: str | Path) -> datetime:
    """When the samples were written: the log's ``created`` time."""
    return datetime.fromtimestamp(Path(path).stat().st_mtime, tz=UTC)
