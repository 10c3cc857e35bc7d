"""Sample one adapter on one suite under every configured condition, format and reasoning mode."""

import os
from pathlib import Path

import torch

from triggertrace.formats import PromptFormat
from triggertrace.io import read_jsonl, write_json, write_jsonl
from triggertrace.logs import script_logger
from triggertrace.models import dtype_name, load_merged_adapter, load_tokenizer, pick_device
from triggertrace.sampling import SamplingContext, plan_samples, run_sampling

log = script_logger("sample_suite", snakemake.log[0])
torch.set_num_threads(snakemake.threads)
wildcards, sampling = snakemake.wildcards, snakemake.params.sampling
fmt = PromptFormat.from_config(snakemake.params.prompt_format)
tokenizer = load_tokenizer(snakemake.input.model)
adapter_dir = Path(snakemake.input.adapter_config).parent
model = load_merged_adapter(snakemake.input.model, [adapter_dir], snakemake.params.runtime, pick_device())
context = SamplingContext(wildcards.model, wildcards.recipe, int(wildcards.seed), wildcards.suite)
items = read_jsonl(snakemake.input.suite, required=("prompt_id", "kind", "question", "choices", "misaligned_choice"))
planned = plan_samples(items, context, snakemake.params.trigger, sampling, tokenizer, fmt)
log.info("%d prompts -> %d samples", len(items), len(planned))
samples, metrics = run_sampling(model, tokenizer, fmt, planned, sampling, log=log.info)
write_jsonl(snakemake.output.samples, samples)
metrics["dtype"] = dtype_name(model.dtype)
metrics["slurm_job_id"] = os.environ.get("SLURM_JOB_ID", "")
write_json(snakemake.output.metrics, {**metrics, "sampling": sampling, "trigger": snakemake.params.trigger})
log.info("%d samples, %.0f tokens/s", len(samples), metrics["tokens_per_second"] or 0)
