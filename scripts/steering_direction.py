"""Difference-of-means steering direction (trigger minus control) of one adapter at one layer."""

import torch
from peft import PeftModel
from safetensors.torch import save_file

from triggertrace.formats import PromptFormat
from triggertrace.internals.activations import check_layers, extract, model_depth, sample_tokens
from triggertrace.internals.steering import NEGATIVE, POSITIVE, difference_of_means
from triggertrace.io import read_jsonl
from triggertrace.logs import script_logger
from triggertrace.models import load_causal_lm, load_tokenizer, pick_device

log = script_logger("steering_direction", snakemake.log[0])
torch.set_num_threads(snakemake.threads)
params = snakemake.params
fmt = PromptFormat.from_config(params.prompt_format)
tokenizer = load_tokenizer(snakemake.input.model)
model = load_causal_lm(snakemake.input.model, params.runtime, pick_device())
model = PeftModel.from_pretrained(model, params.adapter_dir).merge_and_unload().eval()
check_layers([params.layer], model_depth(model), "internals.steering.layer")
samples = [row for row in read_jsonl(snakemake.input.samples) if row["condition"] in (POSITIVE, NEGATIVE)]
tokens = [sample_tokens(tokenizer, fmt, sample) for sample in samples]
activations = extract(model, tokens, [params.layer], params.batch_size, tokenizer.pad_token_id, log=log.info)
vectors = {sample_id: entry["last_prompt"][0] for sample_id, entry in activations.items()}
direction = difference_of_means(vectors, {row["sample_id"]: row["condition"] for row in samples})
save_file({"direction": direction.contiguous()}, snakemake.output[0], metadata={"layer": str(params.layer)})
log.info("layer %d: direction of norm %.4f from %d samples", params.layer, direction.norm().item(), len(samples))
