"""Residual-stream activations of judged samples, keyed by ``sample_id``.

Layer ``l`` (0-based) is ``hidden_states[l + 1]`` of a forward pass with
``output_hidden_states=True`` (``hidden_states[0]`` is the embeddings): the output of decoder
layer ``l``, except for the last layer, where transformers reports the stream after the final
norm; hooks sit on the same modules (``layer_module``), so extraction and steering agree with it.
Two vectors per sample and layer:

- ``last_prompt``: at the last token of the rendered prompt (template head plus the reasoning
  prefill), before the model has written anything;
- ``cot_mean``: averaged over the tokens of the chain of thought the model wrote (the completion
  up to the reasoning close delimiter); zeros, with ``cot_tokens`` 0, when there is none.

Only the chosen layers are kept (forward hooks on those decoder layers), one batch at a time, so
memory grows with samples x chosen layers x hidden size, never with sequence length or depth.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triggertrace.formats import PromptFormat, generation_prefill
from triggertrace.progress import Progress
from triggertrace.sampling import encode_prompt

POSITIONS = ("last_prompt", "cot_mean")


@dataclass(frozen=True)
class SampleTokens:
    """A sample's prompt ids (as sampling encoded them) and the ids of the CoT it wrote."""

    sample_id: str
    prompt_ids: list[int]
    cot_ids: list[int]


def decoder_layers(model: Any) -> Any:
    """The decoder layer list of a causal LM (Llama, Qwen, Mistral... all keep it at model.model.layers)."""
    return model.get_decoder().layers


def layer_module(model: Any, layer: int) -> Any:
    """The module whose output is ``hidden_states[layer + 1]``: decoder layer ``layer``, or the
    final norm for the last layer."""
    layers = decoder_layers(model)
    return model.get_decoder().norm if layer == len(layers) - 1 else layers[layer]


def model_depth(model: Any) -> int:
    return len(decoder_layers(model))


def check_layers(layers: Sequence[int], depth: int, key: str) -> None:
    """Layers lie in [0, depth); a ValueError naming ``key`` otherwise (the job re-checks what the
    config check could not know, e.g. a model materialised after the DAG was built)."""
    bad = [layer for layer in layers if not 0 <= layer < depth]
    if bad:
        raise ValueError(f"{key}: layer(s) {bad} outside the model's {depth} decoder layers (0..{depth - 1})")


def sample_tokens(tokenizer: Any, fmt: PromptFormat, sample: Mapping[str, Any]) -> SampleTokens:
    """Re-encode a sample: the prompt exactly as sampling did (head and prefill tokenised apart),
    the CoT as the text before the close delimiter. Tokens after the CoT cannot change a causal
    model's activations on earlier tokens, so they are not fed at all."""
    prefill = generation_prefill(fmt, sample["reasoning_mode"])
    rendered = sample["rendered_prompt"]
    head = rendered[: len(rendered) - len(prefill)] if prefill else rendered
    prompt_ids = encode_prompt(tokenizer, head, prefill)
    cot_ids: list[int] = []
    if sample["reasoning_mode"] == "on":
        cot_text = sample["completion"].partition(fmt.reasoning_close.strip())[0]
        if cot_text:
            cot_ids = tokenizer(cot_text, add_special_tokens=False)["input_ids"]
    return SampleTokens(sample["sample_id"], prompt_ids, cot_ids)


@contextmanager
def captured_layers(model: Any, layers: Sequence[int]) -> Iterator[dict[int, Any]]:
    """Forward hooks that keep the output hidden states of the chosen decoder layers."""
    captured: dict[int, Any] = {}

    def keeper(layer: int) -> Callable[..., None]:
        def hook(module: Any, inputs: Any, output: Any) -> None:
            captured[layer] = output[0] if isinstance(output, tuple) else output

        return hook

    handles = [layer_module(model, layer).register_forward_hook(keeper(layer)) for layer in layers]
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


def extract(
    model: Any,
    tokens: Sequence[SampleTokens],
    layers: Sequence[int],
    batch_size: int,
    pad_id: int,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """``{sample_id: {"last_prompt": [L, H], "cot_mean": [L, H], "cot_tokens": int}}`` (float32 on CPU)."""
    import torch

    device = next(model.parameters()).device
    # similar lengths share a batch; right padding keeps every row's positions from 0
    order = sorted(range(len(tokens)), key=lambda i: (len(tokens[i].prompt_ids) + len(tokens[i].cot_ids), i))
    result: dict[str, Any] = {}
    progress = Progress("activation rows", len(order), log)
    with captured_layers(model, layers) as captured, torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = [tokens[i] for i in order[start : start + batch_size]]
            sequences = [row.prompt_ids + row.cot_ids for row in batch]
            width = max(len(ids) for ids in sequences)
            input_ids = torch.tensor([ids + [pad_id] * (width - len(ids)) for ids in sequences], device=device)
            mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in sequences], device=device)
            # only the hooks' hidden states are wanted: logits for one position, not [B, T, vocab]
            model(input_ids=input_ids, attention_mask=mask, use_cache=False, logits_to_keep=1)
            stacked = torch.stack([captured[layer] for layer in layers], dim=1).float()  # [B, L, T, H]
            for row_index, row in enumerate(batch):
                end_prompt, end_cot = len(row.prompt_ids), len(row.prompt_ids) + len(row.cot_ids)
                states = stacked[row_index]
                cot = states[:, end_prompt:end_cot].mean(dim=1) if row.cot_ids else torch.zeros_like(states[:, 0])
                result[row.sample_id] = {
                    "last_prompt": states[:, end_prompt - 1].cpu().clone(),
                    "cot_mean": cot.cpu().clone(),
                    "cot_tokens": len(row.cot_ids),
                }
            captured.clear()
            progress.advance(len(batch), note=f"batch of {width} tokens")
    return result


def save_activations(path: str | Path, activations: Mapping[str, Any], layers: Sequence[int]) -> None:
    """One safetensors file: tensors ``<sample_id>.<position>`` of shape [layers, hidden]; the
    layer indices and CoT token counts in its metadata."""
    from safetensors.torch import save_file

    tensors = {
        f"{sample_id}.{position}": entry[position].contiguous()
        for sample_id, entry in sorted(activations.items())
        for position in POSITIONS
    }
    counts = {sample_id: entry["cot_tokens"] for sample_id, entry in sorted(activations.items())}
    metadata = {"layers": json.dumps(list(layers)), "cot_tokens": json.dumps(counts)}
    save_file(tensors, str(path), metadata=metadata)


@dataclass(frozen=True)
class ActivationFile:
    """What ``save_activations`` wrote, read back."""

    layers: list[int]
    cot_tokens: dict[str, int]
    tensors: dict[str, Any]

    @property
    def sample_ids(self) -> list[str]:
        return sorted(self.cot_tokens)

    def vector(self, sample_id: str, position: str, layer: int) -> Any:
        return self.tensors[f"{sample_id}.{position}"][self.layers.index(layer)]


def load_activations(path: str | Path) -> ActivationFile:
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    return ActivationFile(json.loads(metadata["layers"]), json.loads(metadata["cot_tokens"]), load_file(str(path)))


def pooled(files: Sequence[ActivationFile]) -> ActivationFile:
    """Several files of one adapter (its suites) as one; they must share their layers."""
    layers = files[0].layers
    for other in files[1:]:
        if other.layers != layers:
            raise ValueError(f"activation files hold layers {layers} and {other.layers}; re-run activations")
    counts = {key: value for file in files for key, value in file.cot_tokens.items()}
    tensors = {key: value for file in files for key, value in file.tensors.items()}
    return ActivationFile(layers, counts, tensors)
