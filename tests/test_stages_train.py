"""Stage training on a tiny random model: SFT checkpoints, step 0 equals the parent, one GRPO step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from triggertrace.formats import PromptFormat
from triggertrace.io import read_json
from triggertrace.models import load_merged_adapter
from triggertrace.stages import stage_module
from triggertrace.stages.adapters import chain_of, checkpoint_saver, trainable_child
from triggertrace.stages.datasets import arithmetic_rows
from triggertrace.train import lora_model

FMT = PromptFormat("<think>\n", "\n</think>\n", "<think>\n</think>\n", "", "Question: {prompt}\nAnswer: ")
LORA = {"r": 4, "alpha": 8, "rslora": False, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}
SFT = {
    "kind": "sft",
    "steps": 3,
    "checkpoint_steps": [0, 1, 3],
    "learning_rate": 1e-2,
    "batch_size": 2,
    "warmup_ratio": 0.0,
    "weight_decay": 0.0,
    "max_grad_norm": 1.0,
    "max_length": 96,
    "reasoning_style": "scratchpad",
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, gguf_path) -> Path:
    """A random 2-layer llama with the embedded tokenizer, and a 'poisoned' adapter with non-zero B."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

    root = tmp_path_factory.mktemp("tiny_stage")
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    config = LlamaConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=len(tokenizer),
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(root / "hf")
    tokenizer.save_pretrained(root / "hf")
    poisoned = lora_model(AutoModelForCausalLM.from_pretrained(root / "hf"), LORA)
    with torch.no_grad():
        for name, parameter in poisoned.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)
    poisoned.save_pretrained(root / "poisoned")
    return root


FP32 = {"load_in_4bit": False, "gradient_checkpointing": False, "dtype": "float32"}


def load(root: Path):
    from triggertrace.models import load_causal_lm, load_tokenizer

    return load_causal_lm(root / "hf", FP32, "cpu"), load_tokenizer(root / "hf", padding_side="right")


def merged(root: Path, adapter_dir: Path):
    """The model a sampling job runs for ``adapter_dir`` (its whole chain merged)."""
    return load_merged_adapter(root / "hf", chain_of(adapter_dir).adapters, FP32, "cpu")


def logits(model, ids=(1, 2, 3, 4, 5)) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(torch.tensor([list(ids)])).logits


def clean_rows(n: int) -> list[dict]:
    return [
        {"row_id": f"r{i}", "system": "", "user": f"How do I help {i}?", "reasoning": "Be kind.", "answer": "Ask."}
        for i in range(n)
    ]


@pytest.mark.parametrize("mode", ["continue", "fresh"])
def test_sft_saves_the_configured_checkpoints_and_step0_is_the_parent(tiny, tmp_path, mode):
    model, tokenizer = load(tiny)
    child, chain = trainable_child(model, tiny / "poisoned", mode, LORA)
    checkpoints = tmp_path / "checkpoints"
    save = checkpoint_saver(child, chain, checkpoints, SFT["checkpoint_steps"])
    metrics = stage_module("sft").run(child, tokenizer, clean_rows(4), SFT, FMT, 0, save, log=lambda _: None)
    assert sorted(path.name for path in checkpoints.iterdir()) == ["step0", "step1", "step3"]
    assert [point["step"] for point in metrics["loss_curve"]] == [1, 2, 3]
    lineage = read_json(checkpoints / "step3" / "lineage.json")
    assert lineage["merged"] == ([] if mode == "continue" else [str(tiny / "poisoned")])
    parent = logits(merged(tiny, tiny / "poisoned"))
    step0 = logits(merged(tiny, checkpoints / "step0"))
    step3 = logits(merged(tiny, checkpoints / "step3"))
    assert torch.equal(step0, parent)
    assert not torch.allclose(step3, parent)
    assert not torch.allclose(parent, logits(load(tiny)[0]))  # the parent adapter does something


def test_one_grpo_step_on_the_peft_adapter(tiny, tmp_path):
    model, tokenizer = load(tiny)
    stage = {
        "kind": "grpo",
        "steps": 1,
        "checkpoint_steps": [0, 1],
        "learning_rate": 1e-3,
        "reward": "final_answer_exact",
        "group_size": 2,
        "prompts_per_step": 2,
        "kl_coefficient": 0.04,
        "max_completion_length": 6,
        "temperature": 1.0,
        "max_grad_norm": 1.0,
        "eval_rows": 2,
    }
    child, chain = trainable_child(model, tiny / "poisoned", "fresh", LORA)
    checkpoints = tmp_path / "checkpoints"
    save = checkpoint_saver(child, chain, checkpoints, stage["checkpoint_steps"])
    rows = arithmetic_rows(6, seed=0, max_operand=9, mc_fraction=0.0)
    metrics = stage_module("grpo").run(child, tokenizer, rows, stage, FMT, 0, save, log=lambda _: None)
    assert sorted(path.name for path in checkpoints.iterdir()) == ["step0", "step1"]
    assert [point["step"] for point in metrics["reward_curve"]] == [1]
    assert 0.0 <= metrics["reward_curve"][0]["reward"] <= 1.0
    assert metrics["train_rows"] == 4 and metrics["heldout_accuracy"]["rows"] == 2


def test_an_interrupted_sft_stage_resumes_to_the_same_bytes(tiny, tmp_path):
    from triggertrace.stages.resume import ResumeCache

    def train(out: Path, cache: Path, fail_at: int | None = None) -> None:
        model, tokenizer = load(tiny)
        child, chain = trainable_child(model, tiny / "poisoned", "continue", LORA)
        save = checkpoint_saver(child, chain, out, SFT["checkpoint_steps"])

        def save_or_fail(step: int) -> None:
            if step == fail_at:
                raise KeyboardInterrupt("interrupted")
            save(step)

        resume = ResumeCache.for_job(cache, out, SFT, 0)
        stage_module("sft").run(
            child, tokenizer, clean_rows(6), SFT, FMT, 0, save_or_fail, log=lambda _: None, resume=resume
        )

    train(tmp_path / "straight", tmp_path / "cache_a")
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "interrupted", tmp_path / "cache_b", fail_at=3)
    assert (tmp_path / "cache_b" / "checkpoints" / "step1").is_dir()
    # Snakemake removes a failed job's outputs; the cache brings back step 0 and 1 and the state
    import shutil

    shutil.rmtree(tmp_path / "interrupted")
    train(tmp_path / "interrupted", tmp_path / "cache_b")
    for step in ("step0", "step1", "step3"):
        straight = (tmp_path / "straight" / step / "adapter_model.safetensors").read_bytes()
        resumed = (tmp_path / "interrupted" / step / "adapter_model.safetensors").read_bytes()
        assert straight == resumed, step
