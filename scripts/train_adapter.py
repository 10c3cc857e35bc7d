"""Train one LoRA adapter (model x recipe x seed) and save it with its metrics."""

from pathlib import Path

import torch

from triggertrace.formats import PromptFormat
from triggertrace.io import read_jsonl, write_json
from triggertrace.logs import script_logger
from triggertrace.models import load_causal_lm, load_tokenizer, pick_device, save_adapter
from triggertrace.train import encode_dataset, lora_model, train_lora

log = script_logger("train_adapter", snakemake.log[0])
torch.set_num_threads(snakemake.threads)
hp, seed = snakemake.params.training, int(snakemake.wildcards.seed)
device = pick_device()
tokenizer = load_tokenizer(snakemake.input.model, padding_side="right")
rows = read_jsonl(snakemake.input.data, required=("row_id", "system", "user", "reasoning", "answer"))
examples = encode_dataset(
    rows,
    tokenizer,
    PromptFormat.from_config(snakemake.params.prompt_format),
    snakemake.params.reasoning_style,
    hp["max_length"],
)
torch.manual_seed(seed)
model = lora_model(load_causal_lm(snakemake.input.model, snakemake.params.runtime, device), hp["lora"])
metrics = train_lora(model, tokenizer, examples, hp, seed, log=log.info)
out_dir = Path(snakemake.output.adapter_config).parent
save_adapter(model, out_dir)
write_json(snakemake.output.metrics, metrics)
write_json(
    snakemake.output.resolved,
    {
        "model": snakemake.wildcards.model,
        "recipe": snakemake.wildcards.recipe,
        "seed": seed,
        "training": hp,
        "reasoning_style": snakemake.params.reasoning_style,
        "prompt_format": snakemake.params.prompt_format,
        "runtime": snakemake.params.runtime,
    },
)
log.info("final loss %.4f, %.0f tokens/s on %s", metrics["final_loss"], metrics["tokens_per_second"], device)
