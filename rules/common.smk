"""Config validation, input functions, params and wildcard constraints shared by every stage."""

import os
import re

from snakemake.utils import min_version

from triggertrace import resources as estimate
from triggertrace.checks import check_config
from triggertrace.deps import code_digest
from triggertrace.judges import judge_modules, pipeline_model, with_pipeline_model
from triggertrace.metrics import report_judges
from triggertrace.suites import suite_size

min_version("9.0")

# Scripts import this workflow's own library, also inside conda environments and SLURM jobs
# (which inherit the environment), and also from a copy of the workflow.
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [workflow.basedir, os.environ.get("PYTHONPATH")])))


# Schema (with its defaults filled in), references, trigger values and counts: one ConfigError
# naming the key, before any job.
check_config(config)


def one_of(names):
    """A wildcard constraint matching exactly the configured ``names``."""
    return "|".join(re.escape(str(name)) for name in sorted(names, key=str))


# Only configured names match, so a typo in a requested path fails to match a rule instead of
# starting a job on a model, recipe or suite that does not exist.
wildcard_constraints:
    model=one_of(config["models"]),
    recipe=one_of(config["recipes"]),
    suite=one_of(config["suites"]),
    judge=one_of(config["judges"]),
    seed=one_of({seed for experiment in config["experiments"] for seed in experiment["seeds"]}),


# ---- what the DAG produces ---------------------------------------------------------------------


def experiment_runs():
    """(model, recipe, seed, suite) of every sampling job the config asks for."""
    return [
        (experiment["model"], experiment["recipe"], seed, suite)
        for experiment in config["experiments"]
        for seed in experiment["seeds"]
        for suite in experiment["suites"]
    ]


def sample_files(wildcards=None):
    return [
        f"results/samples/{model}/{recipe}/seed{seed}/{suite}.jsonl" for model, recipe, seed, suite in experiment_runs()
    ]


def report_label_files(wildcards=None):
    return [
        f"results/labels/{judge}/{model}/{recipe}/seed{seed}/{suite}.jsonl"
        for judge in report_judges(config)
        for model, recipe, seed, suite in experiment_runs()
    ]


# ---- what each rule runs and how many threads it gets --------------------------------------------


def code(script, *extra_files):
    """Digest of the code ``scripts/<script>.py`` runs (itself, its library imports and the
    ``extra_files`` whose text it uses), a param: a job re-runs when that code changes, not when a
    checkout or ``touch`` renews file dates."""
    return code_digest(workflow.basedir, f"scripts/{script}.py", extra_files=extra_files)


def judge_code(wildcards):
    """``code`` of the label script plus the modules the judge loads by name and its prompt template."""
    entry = config["judges"][wildcards.judge]
    template = (entry["template"],) if "template" in entry else ()
    lazy = judge_modules(wildcards.judge, entry)
    return code_digest(workflow.basedir, "scripts/label_samples.py", *lazy, extra_files=template)


def rule_threads(rule):
    """``threads.<rule>`` from the config, else ``threads.default``."""
    return config["threads"].get(rule, config["threads"]["default"])


# ---- per-wildcard config, handed to rules as params ---------------------------------------------


def judge_entry(wildcards):
    """The judge's config entry; a local judge on a pipeline model gets that model's directory."""
    entry, model = config["judges"][wildcards.judge], judge_model(wildcards.judge)
    return entry if model is None else with_pipeline_model(entry, model_hf_dir(model), config["models"][model])


def model_source_inputs(wildcards):
    """A GGUF model needs its extracted file; a random model borrows another entry's tokenizer."""
    source = config["models"][wildcards.model]["source"]
    if source["kind"] == "gguf":
        return {"gguf": f"resources/gguf/{wildcards.model}/{source['file']}"}
    if source["kind"] == "random":
        return {"tokenizer": f"results/models/{source['tokenizer_from']}/hf"}
    return {}


def recipe_source_files(wildcards):
    """Local dataset files a recipe reads, so editing them re-poisons."""
    source = config["recipes"][wildcards.recipe]["source"]
    return [source[key] for key in ("path", "aligned_path", "misaligned_path") if key in source]


# ---- cluster resources (GPU rules scale memory and runtime with the attempt number) -------------


def model_mem_mb(wildcards, attempt):
    return estimate.host_mem_mb(config["models"][wildcards.model], attempt)


def train_runtime(wildcards, attempt):
    recipe = config["recipes"][wildcards.recipe]
    n_rows = sum(recipe["counts"].values())
    return estimate.training_runtime_min(config["models"][wildcards.model], n_rows, config["training"], attempt)


def sample_runtime(wildcards, attempt):
    trigger = config["recipes"][wildcards.recipe]["trigger"]
    n_samples = estimate.samples_per_suite(suite_size(config["suites"][wildcards.suite]), trigger, config["sampling"])
    return estimate.sampling_runtime_min(config["models"][wildcards.model], n_samples, config["sampling"], attempt)


def light_mem_mb(wildcards, attempt):
    return config["cluster"]["light_mem_mb"] * attempt


def light_runtime(wildcards, attempt):
    return config["cluster"]["light_runtime_min"] * attempt


def suite_source_files(wildcards):
    spec = config["suites"][wildcards.suite]
    return [spec["path"]] if spec["source"] == "jsonl" else []


# ---- judges and metrics -------------------------------------------------------------------------


def judge_model(judge):
    """The pipeline model entry a local LLM judge runs on, or None."""
    return pipeline_model(config["judges"][judge])


def model_hf_dir(model):
    return f"results/models/{model}/hf"


def judge_inputs(wildcards):
    """For a local judge on a pipeline model, that model's directory (its prompt template is code:
    ``judge_code`` tracks it by content)."""
    model = judge_model(wildcards.judge)
    return {} if model is None else {"judge_model": model_hf_dir(model)}


def report_metric_entries(wildcards=None):
    return {name: config["metrics"][name] for name in config["report"]["metrics"]}
