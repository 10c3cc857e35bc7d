"""Loading an adapter chain onto the base model and saving stage checkpoints.

Each checkpoint directory holds a peft adapter and ``lineage.json``: the adapters merged into the
base weights before this one applies (``merged``, oldest first) and this one (``adapter``). With
``adapter: continue`` a stage keeps training its parent's LoRA (``merged`` is the parent's);
with ``adapter: fresh`` the parent is merged into the weights and a new LoRA starts from zero,
so step 0 of either mode computes exactly the parent's function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triggertrace.io import read_json, write_json

LINEAGE_FILE = "lineage.json"


@dataclass(frozen=True)
class Chain:
    merged: tuple[str, ...]  # adapter directories merged into the base weights, oldest first
    adapter: str  # the adapter applied on top

    @property
    def adapters(self) -> tuple[str, ...]:
        """Every adapter of the chain in the order they apply (merged ones first)."""
        return (*self.merged, self.adapter)

    def to_json(self) -> dict[str, Any]:
        return {"merged": list(self.merged), "adapter": self.adapter}


def chain_of(adapter_dir: str | Path) -> Chain:
    """The chain an adapter directory stands for; the poisoned adapter has no ``lineage.json``."""
    path = Path(adapter_dir) / LINEAGE_FILE
    if not path.is_file():
        return Chain((), str(adapter_dir))
    record = read_json(path)
    return Chain(tuple(record["merged"]), record["adapter"])


def merge_adapters(model: Any, adapter_dirs: tuple[str, ...] | list[str]) -> Any:
    """``model`` with each adapter merged into its weights in turn."""
    from peft import PeftModel

    for adapter_dir in adapter_dirs:
        model = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    return model


def load_run_model(model_dir: str | Path, adapter_dir: str | Path | None, runtime: dict[str, Any], device: str) -> Any:
    """The model a sampling job runs: the base model (``adapter_dir`` None), or the base with every
    adapter of ``adapter_dir``'s chain merged, loaded as every adapter's sampling job loads it."""
    from triggertrace.models import load_causal_lm, load_merged_adapter

    if adapter_dir is None:
        return load_causal_lm(model_dir, runtime, device).eval()
    return load_merged_adapter(model_dir, chain_of(adapter_dir).adapters, runtime, device)


def trainable_child(model: Any, parent_dir: str | Path, mode: str, lora: dict[str, Any] | None) -> tuple[Any, Chain]:
    """The peft model a stage trains, and the chain its checkpoints extend."""
    from peft import PeftModel

    from triggertrace.train import lora_model

    parent = chain_of(parent_dir)
    if mode == "continue":
        model = merge_adapters(model, parent.merged)
        return PeftModel.from_pretrained(model, parent.adapter, is_trainable=True), Chain(parent.merged, "")
    if mode == "fresh":
        assert lora is not None
        merged = (*parent.merged, parent.adapter)
        return lora_model(merge_adapters(model, merged), lora), Chain(merged, "")
    raise ValueError(f"unknown adapter mode {mode!r}; expected continue or fresh")


def checkpoint_saver(model: Any, chain: Chain, checkpoints_dir: str | Path, steps: list[int]) -> Callable[[int], None]:
    """``save(step)``: write ``step<k>/`` (adapter and lineage.json) when ``step`` is a checkpoint step."""
    wanted = set(steps)

    def save(step: int) -> None:
        if step not in wanted:
            return
        out = Path(checkpoints_dir) / f"step{step}"
        model.save_pretrained(out)
        write_json(out / LINEAGE_FILE, Chain(chain.merged, str(out)).to_json())

    return save
