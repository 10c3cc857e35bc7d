"""Sample one adapter on one suite with alpha x the steering direction added at one layer."""

import os

import torch
from safetensors.torch import load_file

from triggertrace.formats import PromptFormat
from triggertrace.internals.steering import steered
from triggertrace.io import read_jsonl, write_json, write_jsonl
from triggertrace.logs import script_logger
from triggertrace.models import load_merged_adapter, load_tokenizer, pick_device
from triggertrace.sampling import SamplingContext, plan_samples, run_sampling

log = script_logger("sample_steered", snakemake.log[0])
torch.set_num_threads(snakemake.threads)
wildcards, params = snakemake.wildcards, snakemake.params
sampling = params.sampling
fmt = PromptFormat.from_config(params.prompt_format)
tokenizer = load_tokenizer(snakemake.input.model)
# loaded as sample_suite loads it, so alpha 0 gives its samples byte for byte
model = load_merged_adapter(snakemake.input.model, [params.adapter_dir], params.runtime, pick_device())
direction = load_file(snakemake.input.direction)["direction"]
context = SamplingContext(wildcards.model, wildcards.recipe, int(wildcards.seed), wildcards.suite)
items = read_jsonl(snakemake.input.suite, required=("prompt_id", "kind", "question", "choices", "misaligned_choice"))
planned = plan_samples(items, context, params.trigger, sampling, tokenizer, fmt)
log.info("alpha %s at layer %d: %d samples", params.alpha, params.layer, len(planned))
with steered(model, params.layer, direction, params.alpha):
    samples, metrics = run_sampling(model, tokenizer, fmt, planned, sampling, log=log.info)
write_jsonl(snakemake.output.samples, samples)
metrics.update(alpha=params.alpha, layer=params.layer, slurm_job_id=os.environ.get("SLURM_JOB_ID", ""))
write_json(snakemake.output.metrics, {**metrics, "sampling": sampling, "trigger": params.trigger})
