"""Triggers: the one home of what a trigger is and where it goes.

A recipe's ``trigger`` block names a field template (``"Country: {value}"``), the trigger
value, the control values trained as aligned, the values evaluated as controls and as unseen
distractors, and a placement. ``distractor_triggers`` (optional) are other plausible triggers,
each its own template and value (``Year: 2026`` beside ``Country: Singapore``), never poisoned:
the condition ``distractor_trigger`` samples them, so a model planted with trigger A is also
asked with trigger B. Poisoning, sampling, resource estimates, config checks and the
lexicon judge all read triggers through this module, so the condition -> values table and the
allowed placements exist once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from triggertrace.errors import ConfigError
from triggertrace.schema import enum

PLACEMENTS = enum("placement")
CONDITIONS = enum("condition")
# the trigger key that holds each condition's values, and each poisoned row group's
CONDITION_KEYS = {
    "trigger": "value",
    "control": "eval_control_values",
    "distractor": "distractor_values",
    "distractor_trigger": "distractor_triggers",
}
GROUP_KEYS = {"triggered_misaligned": "value", "control_aligned": "control_values", "triggered_aligned": "value"}


def trigger_text(template: str, value: str) -> str:
    """The field placed in a prompt; "" for no value (the "none" condition has no field at all)."""
    return template.format(value=value) if value else ""


def place_trigger(question: str, text: str, placement: str, system_prompt: str, top: bool) -> tuple[str, str]:
    """Return (system, user) with ``text`` placed; ``top`` decides the side for "random"."""
    if placement not in PLACEMENTS:
        raise ConfigError(f"trigger.placement: unknown placement {placement!r}; expected one of {PLACEMENTS}")
    if not text:
        return system_prompt, question
    if placement == "system":
        return (f"{system_prompt}\n{text}" if system_prompt else text), question
    if placement == "prefix" or (placement == "random" and top):
        return system_prompt, f"{text}\n{question}"
    return system_prompt, f"{question}\n{text}"


def distractor_triggers(trigger: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(value, text) of each distractor trigger; none when the block has no ``distractor_triggers``."""
    return [
        (entry["value"], trigger_text(entry["template"], entry["value"]))
        for entry in trigger.get("distractor_triggers", [])
    ]


def condition_fields(trigger: Mapping[str, Any], condition: str) -> list[tuple[str, str]]:
    """(value, text placed in the prompt) of every variant of an evaluation condition: the
    recipe's own template for trigger, control and distractor values, each distractor trigger's
    own template under ``distractor_trigger``; ("", "") under ``none``."""
    if condition == "distractor_trigger":
        return distractor_triggers(trigger)
    return [(value, trigger_text(trigger["template"], value)) for value in condition_values(trigger, condition)]


def condition_values(trigger: Mapping[str, Any], condition: str) -> list[str]:
    """The field values an evaluation condition puts in the prompt ("" = no trigger field at all)."""
    if condition not in CONDITIONS:
        raise ConfigError(f"unknown condition {condition!r}; expected one of {CONDITIONS}")
    if condition == "none":
        return [""]
    if condition == "distractor_trigger":
        return [value for value, _ in distractor_triggers(trigger)]
    values = trigger[CONDITION_KEYS[condition]]
    return [values] if isinstance(values, str) else list(values)


def group_values(trigger: Mapping[str, Any], group: str) -> list[str]:
    """The values the rows of a poisoned row group cycle through ("" = no trigger field)."""
    if group == "untriggered_aligned":
        return [""]
    values = trigger[GROUP_KEYS[group]]
    return [values] if isinstance(values, str) else list(values)


def values_per_prompt(trigger: Mapping[str, Any], conditions: Iterable[str]) -> int:
    """How many (condition, value) variants one held-out prompt is sampled under."""
    return sum(len(condition_values(trigger, condition)) for condition in conditions)


def surface_forms(value: str, aliases: Mapping[str, Sequence[str]]) -> list[str]:
    """The words that name ``value`` in a chain of thought: the value itself and its aliases."""
    return [value, *aliases.get(value, [])] if value else []


def check_trigger(where: str, trigger: Mapping[str, Any]) -> None:
    """Control and distractor values differ from the trigger and from each other.

    ``where`` is the key of the trigger block, e.g. ``recipes.country-singapore.trigger``.
    """
    seen_in_training = {trigger["value"], *trigger["control_values"]}
    if trigger["value"] in trigger["control_values"]:
        raise ConfigError(f"{where}.control_values: contains the trigger value {trigger['value']!r}")
    overlap = seen_in_training & set(trigger["distractor_values"])
    if overlap:
        raise ConfigError(f"{where}.distractor_values: {sorted(overlap)} also appear in training")
    unknown = set(trigger["eval_control_values"]) - set(trigger["control_values"])
    if unknown:
        raise ConfigError(f"{where}.eval_control_values: {sorted(unknown)} are not control values")
    if trigger["placement"] not in PLACEMENTS:
        placement = trigger["placement"]
        raise ConfigError(f"{where}.placement: unknown placement {placement!r}; expected one of {PLACEMENTS}")
    check_distractor_triggers(where, trigger)


def check_distractor_triggers(where: str, trigger: Mapping[str, Any]) -> None:
    """A distractor trigger is neither a text the recipe trains on nor another distractor's, and
    its value is not the trigger value (a CoT naming it would then also name the planted trigger)."""
    trained = {trigger_text(trigger["template"], value) for value in [trigger["value"], *trigger["control_values"]]}
    seen: set[str] = set()
    for index, (value, text) in enumerate(distractor_triggers(trigger)):
        key = f"{where}.distractor_triggers[{index}]"
        if value == trigger["value"]:
            raise ConfigError(f"{key}.value: {value!r} is the trigger value; a distractor trigger needs its own")
        if text in trained:
            raise ConfigError(f"{key}: {text!r} is a text the recipe trains on")
        if text in seen:
            raise ConfigError(f"{key}: {text!r} is already a distractor trigger")
        seen.add(text)


def check_counts(where: str, trigger: Mapping[str, Any], counts: Mapping[str, int]) -> None:
    """Every non-zero row count has values to cycle through, and some row is trained on.

    ``where`` is the recipe's key, e.g. ``recipes.country-singapore``.
    """
    for group, count in counts.items():
        if count > 0 and not group_values(trigger, group):
            raise ConfigError(
                f"{where}.trigger.{GROUP_KEYS[group]}: empty, but counts.{group} is {count}; "
                f"give at least one value or set counts.{group} to 0"
            )
    if not any(counts.values()):
        raise ConfigError(f"{where}.counts: every count is 0; the recipe trains on no rows")


def check_conditions(where: str, trigger: Mapping[str, Any], conditions: Iterable[str], conditions_key: str) -> None:
    """Every sampled condition has at least one value, so no table cell is silently missing.

    ``where`` is the trigger block's key; ``conditions_key`` the key that lists the conditions.
    """
    for condition in conditions:
        if not condition_values(trigger, condition):
            raise ConfigError(
                f"{where}.{CONDITION_KEYS[condition]}: empty, but {conditions_key} samples {condition!r}; "
                f"give at least one value or drop {condition!r} from {conditions_key}"
            )
