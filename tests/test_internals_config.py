"""The internals block: bad layers, alphas and references stop with one ConfigError naming the key;
the default config has no internals rules at all."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
from configs import resolved_config

from triggertrace.errors import ConfigError
from triggertrace.internals.settings import check_internals, resolved_layers

REPO = Path(__file__).resolve().parents[1]
SHIPPED = resolved_config("config/internals.yaml")


def edited(edit) -> dict:
    config = copy.deepcopy(SHIPPED)
    edit(config["internals"])
    return config


def test_shipped_overlay_passes_and_resolves_its_layers(tmp_path):
    check_internals(SHIPPED, tmp_path)
    assert resolved_layers(SHIPPED, "smollm2-135m", tmp_path) == [0, 4, 8, 12, 16, 20, 24, 29]
    config = edited(lambda block: block.update(layers="all"))
    assert resolved_layers(config, "smollm2-135m", tmp_path) == list(range(30))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda b: b.update(layers=[4, 30]), r"internals.layers: \[30\] beyond model smollm2-135m's 30 decoder layers"),
        (lambda b: b.update(layers=[]), "internals.layers: expected 'all' or a non-empty list"),
        (lambda b: b["steering"].update(alphas=[]), "internals.steering.alphas: expected a non-empty list"),
        (lambda b: b["steering"].update(alphas=[1, 1.0]), r"internals.steering.alphas: \[1, 1.0\] repeats a scale"),
        (lambda b: b["steering"].update(layer=31), "internals.steering.layer: 31 beyond model smollm2-135m's 30"),
        (lambda b: b["probes"].update(metric="nope"), "internals.probes.metric: no entry 'nope' under metrics"),
        (lambda b: b["probes"].update(folds=1), "internals.probes.folds: at least 2 folds"),
        (lambda b: b.pop("model_layers"), "internals.model_layers.smollm2-135m: required"),
        (lambda b: b.update(model_layers={"smollm2-135m": 12}), "internals.model_layers.smollm2-135m: 12, but"),
        (lambda b: b["steering"].update(sampling={"temp": 1}), r"internals.steering.sampling: unknown .*\['temp'\]"),
    ],
)
def test_bad_internals_name_the_key(tmp_path, edit, message):
    config = edited(edit)
    if "12, but" in message:  # a materialised model's own depth wins over a wrong declaration
        (tmp_path / "results/models/smollm2-135m/hf").mkdir(parents=True)
        (tmp_path / "results/models/smollm2-135m/hf/config.json").write_text('{"num_hidden_layers": 30}')
    with pytest.raises(ConfigError, match=message):
        check_internals(config, tmp_path)


def test_bad_layer_stops_the_dry_run_with_one_line_before_any_job(tmp_path):
    overlay = tmp_path / "bad.yaml"
    overlay.write_text("internals:\n  layers: [0, 99]\n")
    command = [sys.executable, "-m", "snakemake", "-n", "--configfile", "config/internals.yaml", str(overlay)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "config error: internals.layers: [99] beyond model smollm2-135m's 30 decoder layers (0..29)"
    )
    assert "rule " not in result.stdout + result.stderr


def test_default_config_has_no_internals_jobs():
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1"], cwd=REPO, capture_output=True, text=True
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for rule in ("extract_activations", "report_probes", "steering_direction", "sample_steered", "report_steering"):
        assert rule not in output
