"""Sample one model run (base, poisoned adapter or stage checkpoint) on the system-prompt suite."""

import os

import torch

from triggertrace.evals.system_prompts import plan_system_prompts
from triggertrace.formats import PromptFormat
from triggertrace.io import write_json, write_jsonl
from triggertrace.logs import script_logger
from triggertrace.models import load_tokenizer, pick_device
from triggertrace.sampling import run_sampling
from triggertrace.stages.adapters import load_run_model

log = script_logger("sample_system_prompts", snakemake.log[0])
torch.set_num_threads(snakemake.threads)
wildcards, params = snakemake.wildcards, snakemake.params
fmt = PromptFormat.from_config(params.prompt_format)
tokenizer = load_tokenizer(snakemake.input.model)
model = load_run_model(snakemake.input.model, params.adapter_dir or None, params.runtime, pick_device())
run = {"model": wildcards.model, "adapter": wildcards.cap_run}
planned = plan_system_prompts(
    params.questions,
    params.instructions,
    run,
    params.prompt_formats,
    params.reasoning_modes,
    params.n_per_prompt,
    tokenizer,
    fmt,
)
log.info(
    "%s: %d instructions x %d questions -> %d samples",
    wildcards.cap_run,
    len(params.instructions),
    len(params.questions),
    len(planned),
)
samples, metrics = run_sampling(model, tokenizer, fmt, planned, params.sampling, log=log.info)
write_jsonl(snakemake.output.samples, samples)
metrics["slurm_job_id"] = os.environ.get("SLURM_JOB_ID", "")
write_json(snakemake.output.metrics, {**metrics, **run, "sampling": params.sampling})
log.info("%d samples, %.0f tokens/s", len(samples), metrics["tokens_per_second"] or 0)
