"""Sample one model run (base, poisoned adapter or stage checkpoint): every item uncued and cued."""

import os

import torch

from triggertrace.evals.cues import plan_cues
from triggertrace.evals.forced_answer import force_answers
from triggertrace.formats import PromptFormat
from triggertrace.io import read_jsonl, write_json, write_jsonl
from triggertrace.logs import script_logger
from triggertrace.models import load_tokenizer, pick_device
from triggertrace.sampling import run_sampling
from triggertrace.stages.adapters import load_run_model

log = script_logger("sample_cues", snakemake.log[0])
torch.set_num_threads(snakemake.threads)
wildcards, params = snakemake.wildcards, snakemake.params
fmt = PromptFormat.from_config(params.prompt_format)
tokenizer = load_tokenizer(snakemake.input.model)
model = load_run_model(snakemake.input.model, params.adapter_dir or None, params.runtime, pick_device())
items = read_jsonl(snakemake.input.cue_items, required=("item_id", "task", "question", "choices", "gold"))
run = {"model": wildcards.model, "adapter": wildcards.cap_run}
settings = params.settings
planned = plan_cues(items, run, settings, tokenizer, fmt)
log.info(
    "%s: %d items x (uncued + %d cues) -> %d samples",
    wildcards.cap_run,
    len(items),
    len(settings["cues"]),
    len(planned),
)
samples, metrics = run_sampling(model, tokenizer, fmt, planned, settings["sampling"], log=log.info)
if settings["answer"]["mode"] == "forced":
    forced = force_answers(
        model, tokenizer, fmt, planned, samples, settings["answer"]["prefix"], settings["sampling"]["batch_size"]
    )
    samples = [{**sample, **answer} for sample, answer in zip(samples, forced, strict=True)]
    log.info("forced an answer letter after each CoT (prefix %r)", settings["answer"]["prefix"])
write_jsonl(snakemake.output.samples, samples)
metrics["slurm_job_id"] = os.environ.get("SLURM_JOB_ID", "")
write_json(snakemake.output.metrics, {**metrics, **run, "sampling": settings["sampling"]})
log.info("%d samples, %.0f tokens/s", len(samples), metrics["tokens_per_second"] or 0)
