"""LLM judges as pipeline label rules, through the snakemake CLI in a throw-away workflow copy.

A copy of the shared smoke run gains two OpenAI-compatible judges pointed at a loopback server
(tests/fake_openai_server.py); only their label jobs and the report run. The server's answers are
keyed to the suite's three questions (the judge templates render the question and the answer):
the first question fails for good at first (the alignment judge's 401 and the coherence judge's
500 both echo the API key), the second gets no logprobs (the parsed-integer fallback), the third
logprob scores. With a tolerant ``max_error_share`` the failures become error rows; then the
failed rows are re-asked (resume) and the warm cache is hit (zero requests). With the default
limit a label job that meets failures fails, writes no labels, and the plain rerun asks only
for the failed rows.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
import threading
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from configs import resolved_config
from conftest import snakemake  # noqa: E402
from fake_openai_server import FakeOpenAIServer, Reply  # noqa: E402

from triggertrace.io import read_jsonl  # noqa: E402

pytestmark = pytest.mark.slow

KEY_ENV = "TRIGGERTRACE_PIPELINE_JUDGE_KEY"
SENTINEL = "sk-SENTINEL-pipeline-3e1d7b9a"
API_JUDGES = ("alignment_api", "coherence_api")
RUN = "tiny-random/country-singapore/seed0/heldout"
LABELS = "results/labels/{judge}/" + RUN + ".jsonl"
LOG = "results/logs/label_samples/{judge}/" + RUN + ".log"
# API judges label where snakemake runs (cluster.api_judges_on_submit_host, on by default)
API_LABEL_RULE = "label_samples_on_submit_host"
SAMPLES = "results/samples/" + RUN + ".jsonl"
TABLE_KEYS = ["condition", "condition_value", "prompt_format", "reasoning_mode"]


class ScriptedJudges:
    """Answers keyed to the question a judge prompt carries; counts requests per judge."""

    def __init__(self, failing: str, parsed: str | None) -> None:
        self.failing, self.parsed = failing, parsed
        self.fail = True  # switched off for the reruns
        self.requests: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, body: dict, n: int) -> Reply:
        content = body["messages"][0]["content"]
        judge = "coherence_api" if "coherent" in content else "alignment_api"
        with self.lock:
            self.requests[judge] += 1
        if self.fail and self.failing in content:
            if judge == "coherence_api":
                return Reply(status=500, body=f"upstream saw Bearer {SENTINEL}")
            return Reply(status=401, body=json.dumps({"error": {"message": f"bad key {SENTINEL}"}}))
        if judge == "alignment_api" and self.parsed is not None and self.parsed in content:
            return Reply(content="10")  # no logprobs: the judge asks again and parses the integer
        score = "90" if judge == "coherence_api" else "10"
        return Reply(content="x", top_logprobs={score: math.log(0.9), "Hi": math.log(0.1)})


def write_config(workdir: Path, base_url: str, name: str = "api", edit=None) -> str:
    config = yaml.safe_load((workdir / "config" / "smoke.yaml").read_text())
    backend = {
        "kind": "openai",
        "base_url": base_url,
        "model": "fake-judge",
        "api_key_env": KEY_ENV,
        "concurrency": 2,
        "timeout_s": 10,
        "max_retries": 0,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.01,
    }
    for judge in API_JUDGES:
        task = judge.split("_")[0]
        config["judges"][judge] = {
            "kind": "llm",
            "version": "1",
            "task": task,
            "template_version": "1",
            "template": f"config/judges/{task}.jinja",
            "max_error_share": 1.0,  # failures stay error rows; the strict scenario drops this
            "backend": backend,
        }
    config["metrics"]["em_api"] = {
        **resolved_config("config/smoke.yaml", root=workdir)["metrics"]["misaligned_excl_incoherent"],
        "alignment_judge": "alignment_api",
        "coherence_judge": "coherence_api",
    }
    config["report"]["metrics"] = ["lexicon_misaligned", "em_api"]
    if edit is not None:
        edit(config)
    # key order kept: Snakemake compares params as written, so a re-sorted dict would re-run everything
    (workdir / "config" / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return f"config/{name}.yaml"


def labels(workdir: Path) -> dict[str, list[dict]]:
    return {judge: read_jsonl(workdir / LABELS.format(judge=judge)) for judge in API_JUDGES}


def stat(log_text: str, key: str) -> int:
    return int(re.search(rf"\b{key}=(\d+)", log_text).group(1))


@pytest.fixture(scope="module")
def suite(smoke_workflow) -> SimpleNamespace:
    """The smoke samples' questions, each with its samples and distinct (question, answer) prompts."""
    samples = read_jsonl(smoke_workflow / SAMPLES)
    questions = sorted({sample["question"] for sample in samples})
    assert len(questions) == 3 and not any(a in b for a in questions for b in questions if a != b)
    by_question = {q: [s for s in samples if s["question"] == q] for q in questions}
    prompts = {q: len({s["answer"] for s in rows}) for q, rows in by_question.items()}
    question_of = {sample["sample_id"]: sample["question"] for sample in samples}
    return SimpleNamespace(samples=samples, questions=questions, rows=by_question, prompts=prompts, of=question_of)


@pytest.fixture(scope="module")
def judged(tmp_path_factory, smoke_workflow, suite) -> SimpleNamespace:
    # a copy keeps the smoke run's outputs and metadata, so nothing upstream of labels re-runs
    workdir = tmp_path_factory.mktemp("judges") / "workflow"
    shutil.copytree(smoke_workflow, workdir, symlinks=True)
    failing, parsed, _ = suite.questions
    responder = ScriptedJudges(failing, parsed)
    with pytest.MonkeyPatch.context() as patch, FakeOpenAIServer(responder) as server:
        patch.setenv(KEY_ENV, SENTINEL)
        config = write_config(workdir, server.base_url)
        rerun = (
            "--configfile",
            config,
            "--forcerun",
            API_LABEL_RULE,
            "--",
            *(LABELS.format(judge=j) for j in API_JUDGES),
        )
        first = snakemake(workdir, "--configfile", config)
        assert "rule train_adapter" not in first.stdout + first.stderr
        state = SimpleNamespace(
            workdir=workdir,
            config=config,
            runs=[first],
            first_labels=labels(workdir),
            first_logs={judge: (workdir / LOG.format(judge=judge)).read_text() for judge in API_JUDGES},
            table=pl.read_csv(workdir / "results/tables/misalignment.csv"),
            level=pl.read_csv(workdir / "results/tables/sample_level.csv"),
            first_requests=dict(responder.requests),
        )
        responder.fail = False
        before = server.requests
        state.runs.append(snakemake(workdir, *rerun))
        state.resume_requests = server.requests - before
        state.resumed_labels = labels(workdir)
        before = server.requests
        state.runs.append(snakemake(workdir, *rerun))
        state.warm_requests = server.requests - before
        state.warm_labels = labels(workdir)
        state.authorization = set(server.authorization)
    return state


def test_api_failures_become_error_rows_counted_in_the_table(judged, suite):
    failing, parsed, scored = suite.questions
    prompts = suite.prompts
    # exact requests: one per distinct prompt, two where the parsing fallback asks again; no retries
    assert judged.first_requests == {
        "alignment_api": prompts[failing] + 2 * prompts[parsed] + prompts[scored],
        "coherence_api": sum(prompts.values()),
    }
    alignment_log = judged.first_logs["alignment_api"]
    assert stat(alignment_log, "asked") == sum(prompts.values())
    assert stat(alignment_log, "requests") == judged.first_requests["alignment_api"]
    assert stat(alignment_log, "errors") == len(suite.rows[failing])
    expected_error = {
        "alignment_api": "HTTP 401 (AuthenticationError)",
        "coherence_api": "HTTP 500 (InternalServerError) after 1 attempts",
    }
    for judge, rows in judged.first_labels.items():
        assert [row["sample_id"] for row in rows] == [sample["sample_id"] for sample in suite.samples]  # none dropped
        for row in rows:
            question = suite.of[row["sample_id"]]
            assert row["error"] == (expected_error[judge] if question == failing else None)
            value = row[judge.split("_")[0]]
            if question == failing:
                assert (value, row["score_method"], row["raw"]) == (None, None, None)
            elif judge == "alignment_api" and question == parsed:
                assert (value, row["score_method"], row["integer_mass"]) == (10.0, "parsed_integer", None)
                assert row["raw"] == {"text": "10"}
            else:
                assert (value, row["score_method"]) == (10.0 if judge == "alignment_api" else 90.0, "logprobs")
                assert row["integer_mass"] == pytest.approx(0.9)
            assert row["backend"] == "openai" and row["judge_model"] == "fake-judge" and len(row["template_hash"]) == 64
    # the table, cell by cell, against the samples: errors are the failing question's rows, every
    # other row is misaligned under the EM definition (alignment 10 < 30, coherence 90 > 50)
    table = judged.table.filter(pl.col("metric") == "em_api")
    level = judged.level.with_columns(pl.col("condition_value").fill_null(""))
    assert table.height == level.select(TABLE_KEYS).unique().height > 1
    for row in table.with_columns(pl.col("condition_value").fill_null("")).iter_rows(named=True):
        cell = level.filter(*(pl.col(key) == row[key] for key in TABLE_KEYS))
        questions = Counter(suite.of[sample_id] for sample_id in cell["sample_id"])
        n_samples, failures = cell.height, questions[failing]
        assert (row["n_samples"], row["n_errors"], row["n_excluded"]) == (n_samples, failures, 0)
        assert row["n"] == row["n_misaligned"] == n_samples - failures > 0
        assert (row["n_scored_parsed_integer"], row["n_scored_logprobs"]) == (questions[parsed], questions[scored])
        assert row["interval"] == "wilson"
    assert table["n_samples"].sum() == len(suite.samples)


def test_rerun_asks_only_the_failed_rows_and_keeps_the_rest(judged, suite):
    failing = suite.questions[0]
    assert judged.resume_requests == 2 * suite.prompts[failing]  # both judges, the failing question only
    for judge in API_JUDGES:
        assert all(row["error"] is None for row in judged.resumed_labels[judge])
        kept = [row for row in judged.first_labels[judge] if row["error"] is None]
        resumed = {row["sample_id"]: row for row in judged.resumed_labels[judge]}
        assert kept and all(resumed[row["sample_id"]] == row for row in kept)
    shard = judged.workdir / "results/cache/judges/alignment_api" / f"{RUN}.jsonl"
    assert len(shard.read_text().splitlines()) == sum(suite.prompts.values())  # one line per distinct prompt


def test_warm_cache_sends_zero_requests(judged):
    assert judged.warm_requests == 0 and judged.warm_labels == judged.resumed_labels
    log = judged.workdir / LOG.format(judge="coherence_api")
    assert "asked=0" in log.read_text()


def test_sentinel_key_is_never_written(judged):
    assert f"Bearer {SENTINEL}" in judged.authorization  # it was sent, so the test is meaningful
    written = [path for path in judged.workdir.rglob("*") if path.is_file() and not path.is_symlink()]
    assert any(".snakemake/metadata" in str(path) for path in written)
    assert any(".snakemake/log" in str(path) for path in written)
    leaks = [str(path) for path in written if SENTINEL.encode() in path.read_bytes()]
    assert leaks == []
    for run in judged.runs:
        assert SENTINEL not in run.stdout + run.stderr


def planned_label_jobs(workdir: Path, *args: str) -> tuple[set[str], set[str]]:
    """(rules, judges of label jobs) a dry run plans."""
    output = snakemake(workdir, "-n", *args).stdout
    rules = set(re.findall(r"^rule (\w+):$", output, re.MULTILINE))
    judges = set(re.findall(r"^\s+output: results/labels/([^/]+)/", output, re.MULTILINE))
    return rules, judges


def test_prompt_change_reruns_only_that_judge(judged):
    template = judged.workdir / "config/judges/coherence.jinja"
    original, stat = template.read_text(), template.stat()
    try:
        template.write_text(original + "\nBe strict.\n")
        rules, judges = planned_label_jobs(judged.workdir, "--configfile", judged.config)
    finally:
        template.write_text(original)
        os.utime(template, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert judges == {"coherence_api"}
    assert rules == {
        API_LABEL_RULE,
        "report_tables",
        "report_figures",
        "report_inspect_logs",
        "report_explorer",
        "report_faithfulness",
        "all",
    }


def test_unknown_metric_reference_names_the_key(judged):
    # every other reference error is covered on the library function in test_report.py
    def unknown_metric(config):
        config["report"]["metrics"].append("nope")

    config = write_config(judged.workdir, "http://127.0.0.1:9/v1", "bad_reference", unknown_metric)
    result = snakemake(judged.workdir, "-n", "--configfile", config, check=False)
    assert result.returncode != 0
    assert "report.metrics[2]: no entry 'nope' under metrics" in result.stdout + result.stderr


@pytest.fixture(scope="module")
def strict(judged, suite) -> SimpleNamespace:
    """The default max_error_share on a fresh cache: the label job fails, then the plain rerun resumes."""
    workdir = judged.workdir
    shutil.rmtree(workdir / "results/cache/judges/alignment_api")
    (workdir / LABELS.format(judge="alignment_api")).unlink()
    responder = ScriptedJudges(suite.questions[0], parsed=None)

    def default_limit(config):
        del config["judges"]["alignment_api"]["max_error_share"]
        config["report"] = {**config["report"], "metrics": ["lexicon_misaligned"], "extra_judges": ["alignment_api"]}

    target = LABELS.format(judge="alignment_api")
    with pytest.MonkeyPatch.context() as patch, FakeOpenAIServer(responder) as server:
        patch.setenv(KEY_ENV, SENTINEL)
        config = write_config(workdir, server.base_url, "strict", default_limit)
        failed = snakemake(workdir, "--configfile", config, "--", target, check=False)
        state = SimpleNamespace(
            failed=failed,
            failed_requests=server.requests,
            failed_log=(workdir / LOG.format(judge="alignment_api")).read_text(),
            labels_after_failure=(workdir / target).exists(),
        )
        responder.fail = False
        state.resumed = snakemake(workdir, "--configfile", config, "--", target, check=False)
        state.resume_bodies = server.bodies[state.failed_requests :]
        state.labels = read_jsonl(workdir / target)
    return state


def test_error_share_past_the_limit_fails_the_job_and_the_plain_rerun_asks_only_the_failed_rows(strict, suite):
    failing = suite.questions[0]
    output = strict.failed.stdout + strict.failed.stderr
    assert strict.failed.returncode != 0 and not strict.labels_after_failure
    assert strict.failed_requests == sum(suite.prompts.values())  # every distinct prompt asked once
    line = (
        f"judge alignment_api: {len(suite.rows[failing])} of {len(suite.samples)} rows failed "
        f"(share {len(suite.rows[failing]) / len(suite.samples):.3f} > max_error_share 0.02); "
        f"first error (sample {suite.rows[failing][0]['sample_id']}): HTTP 401 (AuthenticationError)."
    )
    assert line in output and line in strict.failed_log
    assert strict.resumed.returncode == 0, strict.resumed.stderr[-3000:]
    assert len(strict.resume_bodies) == suite.prompts[failing]
    assert all(failing in body["messages"][0]["content"] for body in strict.resume_bodies)
    assert [row["sample_id"] for row in strict.labels] == [sample["sample_id"] for sample in suite.samples]
    assert all(row["error"] is None and row["alignment"] == 10.0 for row in strict.labels)
