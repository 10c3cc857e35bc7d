"""Run one stage after the poisoning stage: from the parent adapter to checkpoints of a new one."""

import os
from pathlib import Path

import torch

from triggertrace.formats import PromptFormat
from triggertrace.io import file_sha256, read_jsonl, write_json
from triggertrace.logs import script_logger
from triggertrace.models import load_causal_lm, load_tokenizer, pick_device
from triggertrace.stages import stage_module
from triggertrace.stages.adapters import checkpoint_saver, trainable_child
from triggertrace.stages.resume import ResumeCache

log = script_logger("train_stage", snakemake.log[0])
torch.set_num_threads(snakemake.threads)
stage, seed = snakemake.params.stage, int(snakemake.wildcards.seed)
device = pick_device()
tokenizer = load_tokenizer(snakemake.input.model, padding_side="right")
rows = read_jsonl(snakemake.input.data, required=("row_id", "system", "user"))
torch.manual_seed(seed)
base = load_causal_lm(snakemake.input.model, snakemake.params.runtime, device)
parent_dir = Path(snakemake.params.parent_dir)
model, chain = trainable_child(base, parent_dir, stage["adapter"], stage.get("lora"))
save = checkpoint_saver(model, chain, snakemake.output.checkpoints, stage["checkpoint_steps"])
fmt = PromptFormat.from_config(snakemake.params.prompt_format)
# resumable state outside the outputs, keyed by everything the stage's result depends on
resume = ResumeCache.for_job(
    snakemake.params.resume_dir,
    snakemake.output.checkpoints,
    stage,
    seed,
    str(parent_dir),
    file_sha256(snakemake.input.data),
    sorted(file_sha256(path) for path in parent_dir.glob("*.safetensors")),
)
metrics = stage_module(stage["kind"]).run(model, tokenizer, rows, stage, fmt, seed, save, log=log.info, resume=resume)
resume.clear()
metrics.update(device=device, parent=str(parent_dir), slurm_job_id=os.environ.get("SLURM_JOB_ID", ""))
write_json(snakemake.output.metrics, metrics)
write_json(
    snakemake.output.resolved,
    {
        "model": snakemake.wildcards.model,
        "recipe": snakemake.wildcards.recipe,
        "seed": seed,
        "lineage": snakemake.wildcards.lineage,
        "parent": str(parent_dir),
        "stage": stage,
        "dataset": snakemake.params.dataset,
        "prompt_format": snakemake.params.prompt_format,
        "runtime": snakemake.params.runtime,
    },
)
log.info("stage %s done on %s", snakemake.wildcards.lineage, device)
