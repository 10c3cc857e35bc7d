"""Stages after the poisoning stage: each kind trains a new adapter from the previous one.

Every kind is one module here with the same entry point (as peft keeps one tuner per method)::

    run(model, tokenizer, rows, stage, fmt, seed, save_checkpoint, log=..., resume=None) -> metrics

``model`` is a trainable peft model (the parent adapter, or a fresh LoRA on the merged parent),
``rows`` the stage's dataset rows, ``stage`` its config entry; the kind calls
``save_checkpoint(step)`` at step 0 and at every configured checkpoint step, and returns a JSON
metrics dict (its curves per step included). ``resume`` (``resume.ResumeCache``) lets a kind
continue an interrupted job from its last checkpoint step (sft does; grpo restarts).
Kinds load lazily: trl is imported only by ``grpo``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# stage kind -> module under triggertrace.stages
KINDS: dict[str, str] = {"sft": "triggertrace.stages.sft", "grpo": "triggertrace.stages.grpo"}


def stage_module(kind: str) -> ModuleType:
    return importlib.import_module(KINDS[kind])
