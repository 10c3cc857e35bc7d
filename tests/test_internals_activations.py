"""Activations: hooks on the chosen decoder layers, batched and right-padded, match a manual
unbatched forward pass with ``output_hidden_states=True`` on config/smoke.yaml's tiny random model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from triggertrace.formats import PromptFormat
from triggertrace.internals.activations import (
    SampleTokens,
    check_layers,
    extract,
    load_activations,
    sample_tokens,
    save_activations,
)

REPO = Path(__file__).resolve().parents[1]
VOCAB = 97


def tiny_random_model():
    """The smoke config's tiny-random architecture with a small vocabulary (no tokenizer needed)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    source = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())["models"]["tiny-random"]["source"]
    architecture = dict(source["config"])
    config = AutoConfig.for_model(architecture.pop("model_type"), vocab_size=VOCAB, pad_token_id=0, **architecture)
    torch.manual_seed(source["seed"])
    return AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()


def rows() -> list[SampleTokens]:
    generator = torch.Generator().manual_seed(1)

    def ids(n: int) -> list[int]:
        return torch.randint(1, VOCAB, (n,), generator=generator).tolist()

    # lengths differ so batches pad; one row without CoT
    return [SampleTokens(f"s{i}", ids(5 + 3 * i), ids(4 + i) if i != 2 else []) for i in range(5)]


def test_extract_matches_manual_hidden_states():
    model = tiny_random_model()
    layers = [0, 1]
    got = extract(model, rows(), layers, batch_size=3, pad_id=0, log=lambda _: None)
    for row in rows():
        with torch.inference_mode():
            hidden = model(torch.tensor([row.prompt_ids + row.cot_ids]), output_hidden_states=True).hidden_states
        end = len(row.prompt_ids)
        for index, layer in enumerate(layers):
            states = hidden[layer + 1][0]
            torch.testing.assert_close(got[row.sample_id]["last_prompt"][index], states[end - 1], atol=1e-5, rtol=1e-4)
            expected_cot = states[end:].mean(dim=0) if row.cot_ids else torch.zeros(states.shape[-1])
            torch.testing.assert_close(got[row.sample_id]["cot_mean"][index], expected_cot, atol=1e-5, rtol=1e-4)
        assert got[row.sample_id]["cot_tokens"] == len(row.cot_ids)


def test_only_chosen_layers_are_kept_and_saved(tmp_path):
    model = tiny_random_model()
    got = extract(model, rows(), [1], batch_size=2, pad_id=0, log=lambda _: None)
    assert got["s0"]["last_prompt"].shape == (1, 64)
    save_activations(tmp_path / "a.safetensors", got, [1])
    loaded = load_activations(tmp_path / "a.safetensors")
    assert loaded.layers == [1]
    assert loaded.sample_ids == ["s0", "s1", "s2", "s3", "s4"]
    assert loaded.cot_tokens["s2"] == 0 and loaded.cot_tokens["s4"] == 8
    assert torch.equal(loaded.vector("s3", "cot_mean", 1), got["s3"]["cot_mean"][0])


def test_layer_beyond_depth_names_the_key():
    with pytest.raises(ValueError, match=r"internals.layers: layer\(s\) \[2\] outside the model's 2 decoder layers"):
        check_layers([0, 2], 2, "internals.layers")


class CharTokenizer:
    """One id per character: token boundaries are visible in the test."""

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": [ord(char) for char in text]}


def test_sample_tokens_split_prompt_prefill_and_cot():
    fmt = PromptFormat.from_config(
        {
            "reasoning_open": "<think>\n",
            "reasoning_close": "\n</think>\n",
            "reasoning_off": "<think>\n</think>\n",
            "reasoning_prefill": "",
            "completion_template": "Q: {prompt}\nA: ",
        }
    )
    sample = {
        "sample_id": "x",
        "reasoning_mode": "on",
        "rendered_prompt": "Q: hi\nA: <think>\n",
        "completion": "plan it\n</think>\nanswer",
    }
    tokens = sample_tokens(CharTokenizer(), fmt, sample)
    assert "".join(map(chr, tokens.prompt_ids)) == "Q: hi\nA: <think>\n"
    assert "".join(map(chr, tokens.cot_ids)) == "plan it\n"
    off = sample_tokens(CharTokenizer(), fmt, {**sample, "reasoning_mode": "off", "completion": "answer"})
    assert off.cot_ids == []
