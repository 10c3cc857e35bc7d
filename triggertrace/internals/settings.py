"""The ``internals:`` config block, checked before any job (rules/internals.smk).

Layers are checked against the model's depth, which is known before the DAG runs from a random
model's own config, from an already materialised ``results/models/<model>/hf/config.json``, or
from ``internals.model_layers.<model>`` (a GGUF or hub model not yet on disk). Each failure is one
ConfigError naming the key. The ``defection`` block (contrast pairs of the generic defection
probe) is checked against config/schemas/internals.yaml, whose defaults it gets first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from triggertrace.errors import ConfigError, key_path

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "schemas" / "internals.yaml"
KEYS = {"layers", "model_layers", "batch_size", "probes", "steering", "defection"}
PROBE_KEYS = {"folds", "C", "max_iter", "metric", "interval"}
INTERVAL_KEYS = {"confidence", "n_resamples", "seed"}
STEERING_KEYS = {"layer", "alphas", "direction_suite", "metric", "articulation_judge", "sampling"}


def _require(block: Mapping[str, Any], keys: set[str], where: str) -> None:
    unknown, missing = sorted(set(block) - keys), sorted(keys - set(block))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}")
    if missing:
        raise ConfigError(f"{where}.{missing[0]}: required")


def _positive_int(value: Any, key: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{key}: expected a positive integer, got {value!r}")
    return value


def model_depth(config: Mapping[str, Any], model: str, root: str | Path) -> int:
    """Decoder layers of model entry ``model``, known before any job (see module docstring)."""
    source = config["models"][model]["source"]
    declared = config["internals"].get("model_layers", {}).get(model)
    materialised = Path(root) / "results" / "models" / model / "hf" / "config.json"
    if source["kind"] == "random":
        depth = source["config"]["num_hidden_layers"]
    elif materialised.is_file():
        depth = json.loads(materialised.read_text())["num_hidden_layers"]
    elif declared is not None:
        depth = declared
    else:
        raise ConfigError(
            f"internals.model_layers.{model}: required (the number of decoder layers; the model is not "
            "materialised yet, so its depth is unknown before the DAG runs)"
        )
    if declared is not None and declared != depth:
        raise ConfigError(f"internals.model_layers.{model}: {declared}, but the model has {depth} decoder layers")
    return depth


def resolved_layers(config: Mapping[str, Any], model: str, root: str | Path) -> list[int]:
    """``internals.layers`` for one model: ``all`` is every layer; indices must lie below its depth."""
    layers, depth = config["internals"]["layers"], model_depth(config, model, root)
    if layers == "all":
        return list(range(depth))
    if not isinstance(layers, list) or not layers or not all(isinstance(x, int) and x >= 0 for x in layers):
        raise ConfigError(f"internals.layers: expected 'all' or a non-empty list of layer indices, got {layers!r}")
    beyond = [layer for layer in layers if layer >= depth]
    if beyond:
        raise ConfigError(f"internals.layers: {beyond} beyond model {model}'s {depth} decoder layers (0..{depth - 1})")
    return sorted(set(layers))


def alpha_name(alpha: float) -> str:
    """The path segment of a steering scale: ``-2``, ``0.5``."""
    return f"{alpha:g}"


def check_defection(config: dict[str, Any]) -> None:
    """Fill ``internals.defection``'s schema defaults in place, then validate it: an empty pair
    list or a pair without its yes or no answer is one ConfigError naming the key."""
    import yaml
    from jsonschema import Draft202012Validator

    from triggertrace.schema import fill_defaults

    schema = yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))
    fill_defaults(config, schema)
    pairs = config["internals"]["defection"].get("pairs")
    for index, pair in enumerate(pairs if isinstance(pairs, list) else []):
        # YAML 1.1 reads an unquoted yes/no key as a boolean; say so instead of "'yes' is required"
        if isinstance(pair, Mapping) and any(isinstance(key, bool) for key in pair):
            raise ConfigError(
                f"internals.defection.pairs[{index}]: a yes/no key was read as a boolean; quote it "
                '("yes": ..., "no": ...)'
            )
    errors = list(Draft202012Validator(schema).iter_errors(config))
    if errors:
        error = min(errors, key=lambda error: (len(error.absolute_path), list(map(str, error.absolute_path))))
        raise ConfigError(f"{key_path(list(error.absolute_path))}: {error.message}")


def check_internals(config: dict[str, Any], root: str | Path) -> None:
    """Every key of ``internals`` against its meaning and the rest of the config (schema defaults
    of ``internals.defection`` filled in place first)."""
    block = config["internals"]
    if not isinstance(block, Mapping):
        raise ConfigError("internals: expected a mapping")
    check_defection(config)
    _require({key: None for key in block if key != "model_layers"}, KEYS - {"model_layers"}, "internals")
    _positive_int(block["batch_size"], "internals.batch_size")
    probes = block["probes"]
    _require(probes, PROBE_KEYS, "internals.probes")
    if _positive_int(probes["folds"], "internals.probes.folds") < 2:
        raise ConfigError("internals.probes.folds: at least 2 folds")
    _positive_int(probes["max_iter"], "internals.probes.max_iter")
    if not isinstance(probes["C"], (int, float)) or probes["C"] <= 0:
        raise ConfigError(f"internals.probes.C: expected a positive number, got {probes['C']!r}")
    _require(probes["interval"], INTERVAL_KEYS, "internals.probes.interval")
    steering = block["steering"]
    _require(steering, STEERING_KEYS, "internals.steering")
    alphas = steering["alphas"]
    if not isinstance(alphas, list) or not alphas:
        raise ConfigError("internals.steering.alphas: expected a non-empty list of scales")
    if not all(isinstance(alpha, (int, float)) and not isinstance(alpha, bool) for alpha in alphas):
        raise ConfigError(f"internals.steering.alphas: expected numbers, got {alphas!r}")
    names = [alpha_name(alpha) for alpha in alphas]
    if len(set(names)) != len(names):
        raise ConfigError(f"internals.steering.alphas: {alphas!r} repeats a scale")
    for key in ("metric",):
        for where, value in ((f"internals.probes.{key}", probes[key]), (f"internals.steering.{key}", steering[key])):
            if value not in config["metrics"]:
                raise ConfigError(f"{where}: no entry {value!r} under metrics")
    if steering["articulation_judge"] not in config["judges"]:
        raise ConfigError(
            f"internals.steering.articulation_judge: no entry {steering['articulation_judge']!r} under judges"
        )
    unknown = sorted(set(steering["sampling"]) - set(config["sampling"]))
    if unknown:
        raise ConfigError(f"internals.steering.sampling: unknown sampling key(s) {unknown}")
    for experiment in config["experiments"]:
        if steering["direction_suite"] not in experiment["suites"]:
            raise ConfigError(
                f"internals.steering.direction_suite: {steering['direction_suite']!r} is not a suite of "
                f"experiment {experiment['model']}/{experiment['recipe']}"
            )
        model = experiment["model"]
        resolved_layers(config, model, root)
        depth = model_depth(config, model, root)
        layer = steering["layer"]
        if not isinstance(layer, int) or not 0 <= layer < depth:
            raise ConfigError(
                f"internals.steering.layer: {layer!r} beyond model {model}'s {depth} decoder layers (0..{depth - 1})"
            )
