"""Configs as the workflow sees them: ``config/config.yaml`` with ``--configfile`` overlays merged
on top (as Snakemake merges them: mappings key by key, everything else replaced) and the schema's
defaults filled in. Tests read expected values from here, never from an overlay file alone."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from snakemake.utils import update_config

from triggertrace.schema import validate_config

REPO = Path(__file__).resolve().parents[1]


def resolved_config(*overlays: str | Path, root: Path = REPO) -> dict[str, Any]:
    """The config a ``snakemake --configfile <overlay> ...`` run in ``root`` validates and uses."""
    config = yaml.safe_load((root / "config" / "config.yaml").read_text())
    for overlay in overlays:
        update_config(config, copy.deepcopy(yaml.safe_load((root / overlay).read_text())))
    validate_config(config)
    return config
