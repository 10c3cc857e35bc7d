"""Steering: a difference-of-means direction added to the residual stream while sampling.

The direction at layer ``l`` is mean(trigger) - mean(control) of the ``last_prompt`` activations
(``triggertrace.internals.activations``) over an adapter's samples; steering adds ``alpha`` times
it to the output of the same module at every position of every decoding step, so ``alpha = 1``
moves a control prompt's mean onto the trigger mean at that layer. ``alpha = 0`` registers no hook
at all: the samples are those of the unsteered sampling call, byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from triggertrace.internals.activations import layer_module

POSITIVE, NEGATIVE = "trigger", "control"


def difference_of_means(
    vectors: Mapping[str, Any], conditions: Mapping[str, str], positive: str = POSITIVE, negative: str = NEGATIVE
) -> Any:
    """mean over samples whose condition is ``positive`` minus mean over ``negative`` ([hidden])."""
    import torch

    groups = {
        name: [vector for sample_id, vector in sorted(vectors.items()) if conditions[sample_id] == name]
        for name in (positive, negative)
    }
    for name, members in groups.items():
        if not members:
            raise ValueError(f"no {name} samples to take a mean over; sample the {name} condition")
    return torch.stack(groups[positive]).mean(dim=0) - torch.stack(groups[negative]).mean(dim=0)


@contextmanager
def steered(model: Any, layer: int, direction: Any, alpha: float) -> Iterator[None]:
    """``alpha * direction`` added to the output of ``layer`` while the block runs."""
    if alpha == 0:
        yield
        return
    module = layer_module(model, layer)
    param = next(model.parameters())
    shift = (alpha * direction).to(device=param.device, dtype=param.dtype)

    def hook(module: Any, inputs: Any, output: Any) -> Any:
        if isinstance(output, tuple):
            return (output[0] + shift, *output[1:])
        return output + shift

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def steering_sampling(sampling: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The sampling settings of steered runs: the pipeline's, with ``internals.steering.sampling`` on top."""
    return {**sampling, **overrides}


def fire_groups(conditions: Sequence[str]) -> list[str]:
    """Conditions in the order the steering figure shows them."""
    order = ["trigger", "none", "control", "distractor"]
    return [name for name in order if name in conditions]
