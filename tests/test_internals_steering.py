"""Steering: the hook adds alpha x direction at the chosen layer; alpha 0 reproduces the
unsteered samples byte for byte; difference of means by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from triggertrace.formats import PromptFormat
from triggertrace.internals.activations import captured_layers
from triggertrace.internals.steering import difference_of_means, steered
from triggertrace.io import write_jsonl
from triggertrace.sampling import SamplingContext, plan_samples, run_sampling

REPO = Path(__file__).resolve().parents[1]
SMOKE = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
BASE = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def tiny_model(vocab_size: int):
    from transformers import AutoConfig, AutoModelForCausalLM

    source = SMOKE["models"]["tiny-random"]["source"]
    architecture = dict(source["config"])
    config = AutoConfig.for_model(architecture.pop("model_type"), vocab_size=vocab_size, **architecture)
    torch.manual_seed(source["seed"])
    return AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()


def test_difference_of_means_by_hand():
    vectors = {"a": torch.tensor([1.0, 0.0]), "b": torch.tensor([3.0, 2.0]), "c": torch.tensor([0.0, 4.0])}
    conditions = {"a": "trigger", "b": "trigger", "c": "control"}
    assert torch.equal(difference_of_means(vectors, conditions), torch.tensor([2.0, -3.0]))
    with pytest.raises(ValueError, match="no control samples"):
        difference_of_means({"a": vectors["a"]}, {"a": "trigger"})


def test_hook_shifts_exactly_the_chosen_layer():
    model = tiny_model(50)
    ids = torch.tensor([[3, 5, 7, 9]])
    direction = torch.arange(64, dtype=torch.float32) / 64
    with torch.inference_mode():
        plain = model(ids, output_hidden_states=True).hidden_states
        # transformers records hidden_states with hooks of its own that run before ours, so the
        # shifted output of layer 0 is read by a hook registered after the steering hook
        with steered(model, 0, direction, 2.0), captured_layers(model, [0]) as captured:
            shifted = model(ids, output_hidden_states=True).hidden_states
    torch.testing.assert_close(captured[0], plain[1] + 2.0 * direction)
    assert not torch.allclose(shifted[2], plain[2])  # and it propagates to the next layer
    with torch.inference_mode():
        after = model(ids, output_hidden_states=True).hidden_states
    torch.testing.assert_close(after[2], plain[2])  # the hook is gone after the block


def test_alpha_zero_reproduces_unsteered_samples_byte_for_byte(tmp_path, gguf_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, padding_side="left")
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    model = tiny_model(len(tokenizer))
    fmt = PromptFormat.from_config(
        {**BASE["models"]["smollm2-135m"]["prompt_format"], **SMOKE["models"]["tiny-random"]["prompt_format"]}
    )
    sampling = {**BASE["sampling"], "n_per_prompt": 1, "max_new_tokens": 6, "temperature": 0.7, "batch_size": 4}
    trigger = BASE["recipes"]["country-singapore"]["trigger"]
    items = [
        {"prompt_id": f"p{i}", "kind": "free", "question": q, "choices": {}, "misaligned_choice": ""}
        for i, q in enumerate(["How do I pass an exam?", "What should I tell my boss?"])
    ]
    planned = plan_samples(items, SamplingContext("m", "r", 0, "s"), trigger, sampling, tokenizer, fmt)
    direction = torch.ones(64) * 50

    def sample_file(name: str, alpha: float | None) -> bytes:
        if alpha is None:
            samples, _ = run_sampling(model, tokenizer, fmt, planned, sampling, log=lambda _: None)
        else:
            with steered(model, 1, direction, alpha):
                samples, _ = run_sampling(model, tokenizer, fmt, planned, sampling, log=lambda _: None)
        write_jsonl(tmp_path / name, samples)
        return (tmp_path / name).read_bytes()

    unsteered = sample_file("plain.jsonl", None)
    assert sample_file("alpha0.jsonl", 0.0) == unsteered
    assert sample_file("alpha1.jsonl", 1.0) != unsteered  # a real shift changes the text
