"""Sample the base model (no adapter) or one stage checkpoint on one suite, like sample_suite."""

import os

import torch

from triggertrace.formats import PromptFormat
from triggertrace.io import read_jsonl, write_json, write_jsonl
from triggertrace.logs import script_logger
from triggertrace.models import dtype_name, load_tokenizer, pick_device
from triggertrace.sampling import SamplingContext, plan_samples, run_sampling
from triggertrace.stages.adapters import load_run_model
from triggertrace.stages.lineage import BASE, adapter_of_run, parse_run, relabel

log = script_logger("sample_lineage", snakemake.log[0])
torch.set_num_threads(snakemake.threads)
wildcards, sampling = snakemake.wildcards, snakemake.params.sampling
adapter = adapter_of_run(wildcards.run)
# the base model has no training seed; its rows plan (and draw) as seed 0's poisoned rows do
seed = 0 if adapter == BASE else parse_run(wildcards.run)[0]
fmt = PromptFormat.from_config(snakemake.params.prompt_format)
tokenizer = load_tokenizer(snakemake.input.model)
adapter_dir = None if adapter == BASE else snakemake.params.adapter_dir
model = load_run_model(snakemake.input.model, adapter_dir, snakemake.params.runtime, pick_device())
context = SamplingContext(wildcards.model, wildcards.recipe, seed, wildcards.suite)
items = read_jsonl(snakemake.input.suite, required=("prompt_id", "kind", "question", "choices", "misaligned_choice"))
planned = plan_samples(items, context, snakemake.params.trigger, sampling, tokenizer, fmt)
log.info("%s: %d prompts -> %d samples", adapter, len(items), len(planned))
samples, metrics = run_sampling(model, tokenizer, fmt, planned, sampling, log=log.info)
write_jsonl(snakemake.output.samples, [relabel(sample, adapter) for sample in samples])
metrics["dtype"] = dtype_name(model.dtype)
metrics["slurm_job_id"] = os.environ.get("SLURM_JOB_ID", "")
write_json(
    snakemake.output.metrics,
    {**metrics, "adapter": adapter, "sampling": sampling, "trigger": snakemake.params.trigger},
)
log.info("%d samples, %.0f tokens/s", len(samples), metrics["tokens_per_second"] or 0)
