"""The config schema (``config/schema.yaml``): the one definition of the config's vocabularies
and defaults, and validation that names the key at fault.

The code reads every enumeration from the schema's ``$defs`` (``enum("placement")``), so a
new value is added in one place. ``validate_config`` fills the schema's ``default:`` values in
place and raises one ``ConfigError`` whose message starts with the full key path
(``recipes.country-singapore.trigger.placement: ...``).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from triggertrace.errors import ConfigError, key_path

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "config" / "schema.yaml"
# keys whose value picks one branch of a ``oneOf`` (a model source's kind, a suite's source, ...)
DISCRIMINATORS = ("kind", "source", "rule")


@functools.cache
def load_schema() -> dict[str, Any]:
    with open(SCHEMA_PATH, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def enum(name: str) -> tuple[str, ...]:
    """The values of the schema's ``$defs.<name>`` enumeration, in schema order."""
    definition = load_schema()["$defs"].get(name)
    if definition is None or "enum" not in definition:
        raise KeyError(f"config/schema.yaml has no enumeration $defs.{name}")
    return tuple(definition["enum"])


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(load_schema())


def validate_config(config: MutableMapping[str, Any]) -> None:
    """Fill schema defaults into ``config`` in place, then validate it; the error names the key."""
    fill_defaults(config, load_schema())
    errors = list(_validator().iter_errors(config))
    if errors:
        error = _most_specific(min(errors, key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path)))))
        where = key_path(error.absolute_path) or "config"
        raise ConfigError(f"{where}: {error.message}")


def _most_specific(error: ValidationError) -> ValidationError:
    """For a failed ``oneOf``, the error of the branch the discriminator (``kind``, ...) selects."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return error
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    chosen = [
        errors
        for errors in branches.values()
        if not any(len(e.relative_path) == 1 and e.relative_path[0] in DISCRIMINATORS for e in errors)
    ]
    if len(chosen) != 1:
        # no branch matches the discriminator: say which values it may take
        wrong = next((e for e in error.context if e.relative_path and e.relative_path[0] in DISCRIMINATORS), None)
        if wrong is not None:
            key = wrong.relative_path[0]
            allowed = sorted({v for b in error.validator_value for v in _discriminator_values(b, key)}, key=str)
            wrong.message = f"{wrong.instance!r} is not one of {allowed}"
            return wrong
        return error
    return _most_specific(min(chosen[0], key=lambda e: len(e.absolute_path)))


def _discriminator_values(branch: dict[str, Any], key: str) -> list[Any]:
    spec = branch.get("properties", {}).get(key, {})
    return [spec["const"]] if "const" in spec else list(spec.get("enum", []))


def _resolve(schema: dict[str, Any], root: dict[str, Any] | None = None) -> dict[str, Any]:
    while "$ref" in schema:
        schema = _lookup(schema["$ref"], root)
    return schema


def _lookup(reference: str, root: dict[str, Any] | None = None) -> dict[str, Any]:
    if not reference.startswith("#/"):
        raise ValueError(f"only local references are supported, got {reference}")
    node: Any = load_schema() if root is None else root
    for part in reference[2:].split("/"):
        node = node[part]
    return node


def _branches(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield schema
    for keyword in ("oneOf", "anyOf"):
        for branch in schema.get(keyword, []):
            yield from _branches(_resolve(branch))


def fill_eval_defaults(evals_schema_file: str | Path, name: str, section: MutableMapping[str, Any]) -> None:
    """Fill ``evals.<name>`` (``section``, in place) with the defaults its schema in
    ``evals_schema_file`` (``config/schemas/evals.yaml``) gives."""
    with open(evals_schema_file, encoding="utf-8") as handle:
        root = yaml.safe_load(handle)
    fill_defaults(section, root["properties"]["evals"]["properties"][name], root)


def fill_defaults(instance: Any, schema: dict[str, Any], root: dict[str, Any] | None = None) -> None:
    """Set missing keys that have a ``default:`` (a deep copy of it), recursively; ``$ref`` is
    resolved in ``root`` (``config/schema.yaml`` unless given).

    Inside a ``oneOf`` only the branch that the instance satisfies contributes defaults, so a
    default of one judge kind never lands on another kind's entry.
    """
    schema = _resolve(schema, root)
    if isinstance(instance, list):
        if "items" in schema:
            for item in instance:
                fill_defaults(item, schema["items"], root)
        return
    if not isinstance(instance, dict):
        return
    validator = _validator() if root is None else Draft202012Validator(root)
    for keyword in ("oneOf", "anyOf"):
        branches = schema.get(keyword, [])
        matching = [b for b in branches if validator.evolve(schema=_resolve(b, root)).is_valid(instance)]
        if len(matching) == 1:
            fill_defaults(instance, matching[0], root)
    properties = schema.get("properties", {})
    for key, subschema in properties.items():
        # a default may sit beside a $ref ({$ref: ..., default: ...}) or in the referenced schema
        default = subschema.get("default", _resolve(subschema, root).get("default"))
        if key not in instance and default is not None:
            instance[key] = copy.deepcopy(default)
        if key in instance:
            fill_defaults(instance[key], subschema, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in instance.items():
            if key not in properties:
                fill_defaults(value, extra, root)
