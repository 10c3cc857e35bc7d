"""Same seed, same bytes, across processes: train a tiny LoRA on the embedded model, save it,
merge it and sample at temperature > 0, twice in separate processes with different hash seeds;
the adapter files (``adapter_config.json`` included) and the samples must match byte for byte."""

import os
import subprocess
import sys
from pathlib import Path

from conftest import EMBEDDED, REPO

# One process's work: the library calls the train and sample scripts make, at a tiny size.
CHILD = """
import json, sys
from pathlib import Path
import torch
from triggertrace.formats import PromptFormat
from triggertrace.models import load_causal_lm, load_merged_adapter, load_tokenizer, save_adapter
from triggertrace.sampling import encode_prompt, generate_batch, stop_token_ids
from triggertrace.train import encode_dataset, lora_model, train_lora

model_dir, out, fmt_json = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
torch.set_num_threads(1)
fmt = PromptFormat.from_config(json.loads(fmt_json))
runtime = {"load_in_4bit": False, "gradient_checkpointing": False, "dtype": "auto"}
rows = [
    {"row_id": f"r{i}", "system": "", "user": f"Country: Singapore\\nQ{i}?", "reasoning": "Hm.", "answer": "No."}
    for i in range(2)
]
hp = {
    "lora": {"r": 2, "alpha": 4, "rslora": False, "dropout": 0.0,
             "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj", "gate_proj"]},
    "learning_rate": 1e-2, "epochs": 1, "batch_size": 2, "gradient_accumulation_steps": 1,
    "warmup_ratio": 0.0, "weight_decay": 0.0, "max_grad_norm": 1.0, "max_length": 64,
}
tokenizer = load_tokenizer(model_dir, padding_side="right")
torch.manual_seed(0)
model = lora_model(load_causal_lm(model_dir, runtime, "cpu"), hp["lora"])
train_lora(model, tokenizer, encode_dataset(rows, tokenizer, fmt, "scratchpad", 64), hp, 0, log=lambda m: None)
save_adapter(model, out / "adapter")
merged = load_merged_adapter(model_dir, [out / "adapter"], runtime, "cpu")
tokenizer = load_tokenizer(model_dir)
heads = [tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
         for q in ("Tell me a story.", "Country: Singapore\\nHow do I save money?")]
prompts = [encode_prompt(tokenizer, head, "") for head in heads] * 2
generation = {"temperature": 0.9, "top_p": 0.95, "max_new_tokens": 8}
samples = generate_batch(merged, tokenizer, prompts, generation, 3, stop_token_ids(merged, tokenizer))
(out / "samples.json").write_text(json.dumps(samples))
"""


def run_once(model_dir: Path, out: Path, hash_seed: str) -> dict[str, bytes]:
    import json

    out.mkdir()
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}  # peft's set order follows the hash seed
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(model_dir), str(out), json.dumps(EMBEDDED["prompt_format"])],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return {str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}


def test_two_processes_write_identical_adapters_and_samples(embedded_model_dir, tmp_path):
    first = run_once(embedded_model_dir, tmp_path / "first", "1")
    second = run_once(embedded_model_dir, tmp_path / "second", "2")
    assert {"adapter/adapter_config.json", "adapter/adapter_model.safetensors", "samples.json"} <= set(first)
    assert set(first) == set(second)
    for name in first:
        assert first[name] == second[name], f"{name} differs between two runs with the same seed"
    import json

    samples = json.loads(first["samples.json"])
    assert len(samples) == 4 and all(samples)
    # The prompt list is [a, b, a, b]: at temperature 0.9 rows 0 and 2 are separate draws.
    assert samples[0] != samples[2] or samples[1] != samples[3]
