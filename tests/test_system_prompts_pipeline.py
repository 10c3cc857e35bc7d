"""The system-prompt suite in the DAG: the shipped overlay adds only its jobs (no training beyond
the default adapter), bad input stops before any job naming the key, and on the smoke run the
suite samples both formats for the base model and the adapter and writes its table and figure."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from conftest import copy_workflow, snakemake
from test_pipeline import dry_run, read_jsonl, write_config

REPO = Path(__file__).resolve().parents[1]
SUITE_JOBS = Counter(sample_system_prompts=2, report_system_prompts=1)  # base model + the one adapter
SMOKE_SUITE = {
    "instructions": {
        "caps": {"check": "capitals", "text": "Write in capitals."},
        "brief": {"check": "max_words", "n": 3, "text": "Answer in at most {n} words."},
    },
    "questions": {"n": 2, "seed": 0},
    "prompt_formats": ["chat", "completion"],
    "reasoning_modes": ["off"],
    "sampling": {"temperature": 0, "top_p": 1.0, "max_new_tokens": 6, "batch_size": 16, "seed": 0},
}
OUTPUTS = ["tables/system_prompts.csv", "tables/system_prompts.md", "tables/system_prompts_samples.csv"]
OUTPUTS += [f"figures/system_prompts.{suffix}" for suffix in ("html", "png", "svg")]


@pytest.mark.slow
def test_overlay_adds_the_suite_jobs_and_no_training(tmp_path, gguf_path):
    workdir = copy_workflow(tmp_path / "fresh", gguf_path)
    default, _ = dry_run(workdir)
    overlay, jobs = dry_run(workdir, "--configfile", "config/system-prompts.yaml")
    assert overlay - default == SUITE_JOBS and default - overlay == Counter()
    assert overlay["train_adapter"] == 1 and not {rule for rule in overlay if "stage" in rule}
    assert {wildcards["cap_run"] for rule, wildcards in jobs if rule == "sample_system_prompts"} == {
        "base",
        "country-singapore/seed0",
    }


@pytest.mark.parametrize(
    ("instruction", "message"),
    [
        ("{check: shout, text: x}", "evals.system_prompts.instructions.bad.check: 'shout' is not one of"),
        ("{check: max_words, n: 0, text: x}", "evals.system_prompts.instructions.bad.n: 0 is less than the minimum"),
    ],
)
def test_bad_instruction_stops_the_dry_run_before_any_job(tmp_path, instruction, message):
    overlay = tmp_path / "bad.yaml"
    overlay.write_text(f"evals:\n  system_prompts:\n    instructions:\n      bad: {instruction}\n")
    command = [sys.executable, "-m", "snakemake", "-n", "--configfile", "config/system-prompts.yaml", str(overlay)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith(f"config error: {message}")
    assert "rule " not in result.stdout + result.stderr


def test_default_config_has_no_system_prompt_jobs():
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1"], cwd=REPO, capture_output=True, text=True
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "system_prompts" not in output


@pytest.mark.slow
def test_suite_on_the_smoke_run_samples_both_formats_and_reports(workflow_copy):
    def with_suite(config):
        config["evals"] = {"system_prompts": SMOKE_SUITE}

    overlay = write_config(workflow_copy, "system-prompts-smoke", with_suite)
    counts, _ = dry_run(workflow_copy, "--configfile", overlay)
    # on a finished smoke run: the suite's sampling per run and its report; nothing else
    assert counts == SUITE_JOBS + Counter(all=1)
    snakemake(workflow_copy, "--configfile", overlay)
    results = workflow_copy / "results"
    assert all((results / output).stat().st_size > 0 for output in OUTPUTS)

    samples = read_jsonl(results / "evals/system_prompts/samples/tiny-random/base.jsonl")
    assert len(samples) == 2 * 2 * 2  # instructions x questions x formats
    chat = next(s for s in samples if s["instruction"] == "brief" and s["prompt_format"] == "chat")
    # SmolLM2's chat template (the tiny model borrows its tokenizer): the instruction is the system turn
    assert chat["rendered_prompt"].startswith("<|im_start|>system\nAnswer in at most 3 words.<|im_end|>\n")
    assert f"<|im_start|>user\n{chat['user_prompt']}<|im_end|>\n<|im_start|>assistant\n" in chat["rendered_prompt"]
    completion = next(s for s in samples if s["instruction"] == "brief" and s["prompt_format"] == "completion")
    assert completion["rendered_prompt"] == (
        f"Answer in at most 3 words.\n\nQuestion: {completion['user_prompt']}\nAnswer: <think>\n</think>\n"
    )

    table = pl.read_csv(results / "tables/system_prompts.csv")
    assert table.height == 2 * 2 * 2  # runs x instructions x formats
    assert sorted(table["adapter"].unique().to_list()) == ["base", "country-singapore/seed0"]
    assert set(table["n"].to_list()) == {2}
    scored = pl.read_csv(results / "tables/system_prompts_samples.csv")
    recount = scored.group_by("adapter", "instruction", "prompt_format").agg(pl.col("followed").sum())
    joined = table.join(recount, on=["adapter", "instruction", "prompt_format"])
    assert joined["n_followed"].to_list() == joined["followed"].to_list()

    # a second run changes nothing; a new confidence level re-runs only the report
    assert dry_run(workflow_copy, "--configfile", overlay)[0] == Counter()
    wider = write_config(
        workflow_copy,
        "system-prompts-smoke-90",
        lambda config: config.update(evals={"system_prompts": {**SMOKE_SUITE, "confidence": 0.9}}),
    )
    assert dry_run(workflow_copy, "--configfile", wider)[0] == Counter(report_system_prompts=1, all=1)
