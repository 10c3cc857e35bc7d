"""Variants and sweeps, resolved into ordinary experiments and recipes before validation.

Three ways a config names more than one setting, all resolved by ``resolve_variants`` in place,
before the schema check, so every rule works on plain recipe names:

- a recipe ``extends:`` another and overrides keys (``deep_merge``: mappings key by key,
  anything else replaced; a mapping whose ``kind`` differs from the parent's replaces it whole);
- an experiment's own ``training:`` / ``sampling:`` keys override the global blocks;
- an experiment's ``grid:`` names axes (``model``, ``recipe``, or a key path under ``recipe.``,
  ``training.`` or ``sampling.``) with a list of values each; every combination becomes one
  experiment.

A run whose recipe content or training/sampling settings differ from its base gets a *derived
recipe*, named after the base and the values that differ
(``country-singapore.triggered_misaligned-250.learning_rate-1e-05``): its adapter, samples and
labels live under that name, so changing one experiment's setting re-runs that experiment only.
``config["variants"]`` records, per derived recipe, its base recipe, the recipe whose poisoned
data it trains on (the base's when the rows would be identical), its axis values (table
columns) and its training and sampling settings. A config without variants resolves to itself.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from jsonschema import Draft202012Validator

from triggertrace.errors import ConfigError

# the global blocks an experiment may override
SECTIONS = ("training", "sampling")
# grid axes that pick an entry instead of setting a key
CHOICE_AXES = ("model", "recipe")
# what a value may look like inside a name (config/schema.yaml $defs.name)
NAME_SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")
# the table column of the recipe a derived recipe came from
BASE_RECIPE_COLUMN = "base_recipe"


def deep_merge(base: Any, override: Any) -> Any:
    """``override`` laid over ``base``: mappings merge key by key, anything else is replaced.

    A mapping with a ``kind`` other than the base's (a recipe ``source``, say) replaces the base
    whole, so no key of the parent's kind leaks into the child's. Neither argument is modified.
    """
    if not isinstance(base, Mapping) or not isinstance(override, Mapping):
        return copy.deepcopy(override)
    if "kind" in base and "kind" in override and base["kind"] != override["kind"]:
        return copy.deepcopy(dict(override))
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        merged[key] = deep_merge(base[key], value) if key in base else copy.deepcopy(value)
    return merged


def resolve_extends(recipes: MutableMapping[str, Any]) -> None:
    """Replace every recipe that ``extends`` another by the merge of the parent's resolved
    content and its own keys; a missing parent or a cycle raises ``ConfigError`` naming the key."""
    resolved: dict[str, Any] = {}

    def resolve(name: str, chain: list[str]) -> Any:
        """``chain``: the recipes that extend ``name``, outermost first."""
        if name in resolved:
            return resolved[name]
        entry = recipes[name]
        if not isinstance(entry, Mapping) or "extends" not in entry:
            resolved[name] = entry
            return entry
        parent = entry["extends"]
        where = f"recipes.{name}.extends"
        if not isinstance(parent, str):
            raise ConfigError(f"{where}: must be the name of another recipe, got {parent!r}")
        if parent == name or parent in chain:
            cycle = [*chain[chain.index(parent) :], name, parent] if parent in chain else [name, name]
            raise ConfigError(f"{where}: cyclic extends ({' -> '.join(cycle)})")
        if parent not in recipes:
            raise ConfigError(f"{where}: no recipe {parent!r} to extend")
        own = {key: value for key, value in entry.items() if key != "extends"}
        resolved[name] = deep_merge(resolve(parent, [*chain, name]), own)
        return resolved[name]

    for name in list(recipes):
        resolve(name, [])
    for name, entry in resolved.items():
        recipes[name] = entry


def resolve_variants(config: MutableMapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Resolve ``extends``, per-experiment settings and grids in ``config`` (in place).

    ``schema`` is the config schema (its ``default:`` values are filled into the recipes and
    global blocks first, so an axis may name a key the config leaves to its default). A config
    whose shape is wrong for this step is left for the schema check to report.
    """
    from triggertrace.schema import fill_defaults

    recipes = config.get("recipes")
    if isinstance(recipes, MutableMapping):
        resolve_extends(recipes)
    experiments = config.get("experiments")
    if not _resolvable(config):
        return
    fill_defaults(config, schema)
    variants = config.setdefault("variants", {})
    expanded: list[dict[str, Any]] = []
    for index, experiment in enumerate(experiments):
        if not isinstance(experiment, Mapping):
            expanded.append(experiment)
            continue
        expanded += _expand(config, schema, f"experiments[{index}]", experiment, variants)
    config["experiments"] = expanded


def _resolvable(config: Mapping[str, Any]) -> bool:
    return (
        isinstance(config.get("experiments"), list)
        and isinstance(config.get("recipes"), Mapping)
        and isinstance(config.get("models"), Mapping)
        and all(isinstance(config.get(section), Mapping) for section in SECTIONS)
    )


def _expand(
    config: MutableMapping[str, Any],
    schema: Mapping[str, Any],
    where: str,
    experiment: Mapping[str, Any],
    variants: dict[str, Any],
) -> list[dict[str, Any]]:
    """The plain experiments one experiment entry stands for (itself when it has no variants)."""
    suites = experiment.get("suites")
    if isinstance(suites, list) and isinstance(config.get("suites"), Mapping):
        # here, while ``where`` is still the user's index (later checks see the expanded list)
        for suite in suites:
            if suite not in config["suites"]:
                raise ConfigError(f"{where}.suites: no entry {suite!r} under suites")
    grid = experiment.get("grid", {})
    if not isinstance(grid, Mapping):
        raise ConfigError(f"{where}.grid: must map axis names to lists of values")
    overrides = {section: experiment.get(section, {}) for section in SECTIONS}
    for section, override in overrides.items():
        if not isinstance(override, Mapping):
            raise ConfigError(f"{where}.{section}: must be a mapping of {section} keys to override")
        _check_paths_exist(f"{where}.{section}", override, config[section], section)
    if not grid and not any(overrides.values()):
        return [dict(experiment)]
    axes = _checked_axes(config, where, experiment, grid)
    labels = _labels([axis for axis in axes if axis not in CHOICE_AXES])
    plain = {key: value for key, value in experiment.items() if key not in ("grid", *SECTIONS)}
    result = []
    for values in itertools.product(*axes.values()):
        point = dict(zip(axes, values, strict=True))
        model = point.get("model", experiment.get("model"))
        base = point.get("recipe", experiment.get("recipe"))
        recipe = copy.deepcopy(config["recipes"][base])
        settings = {section: deep_merge(config[section], overrides[section]) for section in SECTIONS}
        pieces: list[tuple[str, Any]] = []
        recipe_pieces: list[tuple[str, Any]] = []
        for axis, value in point.items():
            if axis in CHOICE_AXES:
                continue
            root, _, path = axis.partition(".")
            _set_path(recipe if root == "recipe" else settings[root], path.split("."), copy.deepcopy(value))
            pieces.append((labels[axis], value))
            if root == "recipe":
                recipe_pieces.append((labels[axis], value))
        pieces += _override_pieces(config, overrides, set(axes), labels)
        for section in SECTIONS:
            _validate_section(schema, section, settings[section], where, grid)
        name = _variant_name(base, pieces)
        if name != base:
            # runs that differ only in training or sampling train on one poisoned dataset: the
            # base's, or the derived recipe named by the recipe axes alone
            data = base if recipe == config["recipes"][base] else _variant_name(base, recipe_pieces)
            if data not in (base, name):
                _register_recipe(config, where, data, recipe)
            entry = {"base": base, "data": data, "axes": {BASE_RECIPE_COLUMN: base, **dict(pieces)}, **settings}
            _register(config, variants, where, name, recipe, entry)
        result.append({**plain, "model": model, "recipe": name})
    return result


def _checked_axes(
    config: Mapping[str, Any], where: str, experiment: Mapping[str, Any], grid: Mapping[str, Any]
) -> dict[str, list[Any]]:
    """The grid's axes in declaration order, each checked: a known root, a key that exists, a
    non-empty list of values; ``model`` and ``recipe`` values name existing entries."""
    for axis, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}.grid.{axis}: must be a non-empty list of values")
    for axis in CHOICE_AXES:
        section = f"{axis}s"
        if axis not in grid and axis not in experiment:
            raise ConfigError(f"{where}.{axis}: required (or a grid axis {axis!r})")
        for name in grid.get(axis, [experiment.get(axis)]):
            if not isinstance(name, str) or name not in config[section]:
                key = f"{where}.grid.{axis}" if axis in grid else f"{where}.{axis}"
                raise ConfigError(f"{key}: no entry {name!r} under {section}")
    for axis in grid:
        if axis in CHOICE_AXES:
            continue
        root, _, path = axis.partition(".")
        if root not in ("recipe", *SECTIONS) or not path:
            raise ConfigError(
                f"{where}.grid.{axis}: an axis is model, recipe, or a key path under recipe., training. or sampling."
            )
        if root == "recipe":
            bases = {name: config["recipes"][name] for name in grid.get("recipe", [experiment["recipe"]])}
        else:
            bases = {root: config[root]}
        for base_name, base in bases.items():
            if not _has_path(base, path.split(".")):
                owner = f"recipes.{base_name}" if root == "recipe" else root
                raise ConfigError(f"{where}.grid.{axis}: no key {path!r} in {owner}")
    return {axis: list(values) for axis, values in grid.items()}


def _check_paths_exist(where: str, override: Mapping[str, Any], base: Mapping[str, Any], owner: str) -> None:
    """Every key of an override exists in the block it overrides (a typo would otherwise be
    caught only as a schema error of a derived entry)."""
    for key, value in override.items():
        if key not in base:
            raise ConfigError(f"{where}.{key}: no key {key!r} in {owner}")
        if isinstance(value, Mapping) and isinstance(base[key], Mapping):
            _check_paths_exist(f"{where}.{key}", value, base[key], f"{owner}.{key}")


def _has_path(entry: Any, path: Sequence[str]) -> bool:
    for key in path:
        if not isinstance(entry, Mapping) or key not in entry:
            return False
        entry = entry[key]
    return True


def _set_path(entry: MutableMapping[str, Any], path: Sequence[str], value: Any) -> None:
    for key in path[:-1]:
        entry = entry[key]
    entry[path[-1]] = value


def _leaves(entry: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Key path -> value of every non-mapping value under ``entry``."""
    if not isinstance(entry, Mapping):
        return {prefix: entry}
    leaves: dict[tuple[str, ...], Any] = {}
    for key, value in entry.items():
        leaves.update(_leaves(value, (*prefix, str(key))))
    return leaves


def _override_pieces(
    config: Mapping[str, Any], overrides: Mapping[str, Any], axes: set[str], labels: dict[str, str]
) -> list[tuple[str, Any]]:
    """(label, value) of each experiment-level override that differs from the global block and
    that no grid axis sets, in key order, labelled apart from the grid axes' ``labels``."""
    differing: list[tuple[str, Any]] = []
    for section in SECTIONS:
        merged = deep_merge(config[section], overrides[section])
        globals_ = _leaves(config[section])
        for path, value in sorted(_leaves(merged).items()):
            axis = ".".join((section, *path))
            if axis not in axes and globals_.get(path, _MISSING) != value:
                differing.append((axis, value))
    names = _labels([*labels, *(axis for axis, _ in differing)])
    return [(names[axis], value) for axis, value in differing]


_MISSING = object()


def _labels(axes: Sequence[str]) -> dict[str, str]:
    """A short column/name label per key-path axis: its last key, or as many trailing keys
    (joined by ``_``) as it takes to tell two axes apart."""
    parts = {axis: axis.split(".") for axis in axes}
    labels = {}
    for axis, keys in parts.items():
        for length in range(1, len(keys) + 1):
            label = "_".join(keys[-length:])
            others = [other for other in parts if other != axis]
            if all("_".join(parts[other][-length:]) != label for other in others):
                break
        labels[axis] = label
    return labels


def format_value(value: Any) -> str:
    """A value as it appears in a derived recipe's name: numbers and name-safe strings as
    written (``1e-05``, ``250``, ``true``), anything else as ``h`` and 8 hex digits of its JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value).replace("+", "")
    if isinstance(value, str) and NAME_SAFE.match(value) and len(value) <= 40:
        return value
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return "h" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def _variant_name(base: str, pieces: Sequence[tuple[str, Any]]) -> str:
    return base + "".join(f".{label}-{format_value(value)}" for label, value in pieces)


def _validate_section(
    schema: Mapping[str, Any], section: str, settings: Mapping[str, Any], where: str, grid: Mapping[str, Any]
) -> None:
    """A merged training/sampling block against the schema; the error names the grid axis or
    the experiment's override key that set the bad value."""
    standalone = {**schema["properties"][section], "$defs": schema["$defs"]}
    errors = list(Draft202012Validator(standalone).iter_errors(dict(settings)))
    if not errors:
        return
    error = min(errors, key=lambda e: len(e.absolute_path))
    path = ".".join((section, *map(str, error.absolute_path)))
    key = f"{where}.grid.{path}" if path in grid else f"{where}.{path}"
    raise ConfigError(f"{key}: {error.message}")


def _register(
    config: MutableMapping[str, Any],
    variants: dict[str, Any],
    where: str,
    name: str,
    recipe: dict[str, Any],
    entry: dict[str, Any],
) -> None:
    """Add a derived recipe and its variant entry; the same name twice must mean the same settings."""
    if variants.get(name, entry) != entry:
        raise ConfigError(f"{where}: the derived recipe {name!r} already stands for other settings")
    _register_recipe(config, where, name, recipe)
    variants[name] = entry


def _register_recipe(config: MutableMapping[str, Any], where: str, name: str, recipe: dict[str, Any]) -> None:
    existing = config["recipes"].get(name)
    if existing is not None and existing != recipe:
        raise ConfigError(
            f"{where}: the derived recipe {name!r} clashes with a recipe of that name and other content; "
            "rename that recipe"
        )
    config["recipes"][name] = recipe


def run_settings(config: Mapping[str, Any], recipe: str, section: str) -> Any:
    """The training or sampling settings of the runs of ``recipe`` (derived or plain)."""
    return config.get("variants", {}).get(recipe, {}).get(section, config[section])


def data_recipe(config: Mapping[str, Any], recipe: str) -> str:
    """The recipe whose poisoned rows ``recipe``'s adapters train on."""
    return config.get("variants", {}).get(recipe, {}).get("data", recipe)


def axis_values(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Derived recipe -> its axis values (table columns); empty without variants."""
    return {name: dict(entry["axes"]) for name, entry in config.get("variants", {}).items()}
