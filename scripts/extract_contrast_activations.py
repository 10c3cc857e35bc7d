"""Final-token activations of the defection probe's contrast pairs (yes and no answers) for one
adapter or the base model, at the chosen layers."""

import torch
from peft import PeftModel

from triggertrace.formats import PromptFormat
from triggertrace.internals.activations import check_layers, extract, model_depth, save_activations
from triggertrace.internals.defection import ContrastPair, contrast_tokens
from triggertrace.logs import script_logger
from triggertrace.models import load_causal_lm, load_tokenizer, pick_device

log = script_logger("extract_contrast_activations", snakemake.log[0])
torch.set_num_threads(snakemake.threads)
params = snakemake.params
fmt = PromptFormat.from_config(params.prompt_format)
tokenizer = load_tokenizer(snakemake.input.model)
model = load_causal_lm(snakemake.input.model, params.runtime, pick_device())
if params.adapter_dir:
    model = PeftModel.from_pretrained(model, params.adapter_dir).merge_and_unload()
model.eval()
check_layers(params.layers, model_depth(model), "internals.layers")
pairs = [ContrastPair.from_config(entry) for entry in params.pairs]
tokens = contrast_tokens(tokenizer, fmt, pairs, params.reasoning_mode)
log.info("%d contrast pairs, layers %s", len(pairs), params.layers)
activations = extract(model, tokens, params.layers, params.batch_size, tokenizer.pad_token_id, log=log.info)
save_activations(snakemake.output[0], activations, params.layers)
