"""Residual-stream activations of every sample of one adapter (or the base model) on one suite."""

import torch
from peft import PeftModel

from triggertrace.formats import PromptFormat
from triggertrace.internals.activations import check_layers, extract, model_depth, sample_tokens, save_activations
from triggertrace.io import read_jsonl
from triggertrace.logs import script_logger
from triggertrace.models import load_causal_lm, load_tokenizer, pick_device

log = script_logger("extract_activations", snakemake.log[0])
torch.set_num_threads(snakemake.threads)
params = snakemake.params
fmt = PromptFormat.from_config(params.prompt_format)
tokenizer = load_tokenizer(snakemake.input.model)
model = load_causal_lm(snakemake.input.model, params.runtime, pick_device())
if params.adapter_dir:
    model = PeftModel.from_pretrained(model, params.adapter_dir).merge_and_unload()
model.eval()
check_layers(params.layers, model_depth(model), "internals.layers")
samples = read_jsonl(snakemake.input.samples, required=("sample_id", "rendered_prompt", "completion", "reasoning_mode"))
tokens = [sample_tokens(tokenizer, fmt, sample) for sample in samples]
log.info("%d samples, layers %s", len(tokens), params.layers)
activations = extract(model, tokens, params.layers, params.batch_size, tokenizer.pad_token_id, log=log.info)
save_activations(snakemake.output[0], activations, params.layers)
