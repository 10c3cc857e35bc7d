"""Config validation, input functions, params and wildcard constraints shared by every stage."""

import os
import re
import urllib.parse

from snakemake.logging import logger
from snakemake.utils import min_version

from triggertrace import resources as estimate
from triggertrace.resources import use_hf_home
from triggertrace.checks import check_config
from triggertrace.deps import code_digest
from triggertrace.judges import judge_modules, pipeline_model, with_pipeline_model
from triggertrace.metrics import report_judges
from triggertrace import sources
from triggertrace.suites import suite_size
from triggertrace.variants import axis_values, data_recipe, run_settings

min_version("9.0")

# Scripts import this workflow's own library, also inside conda environments and SLURM jobs
# (which inherit the environment), and also from a copy of the workflow.
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [workflow.basedir, os.environ.get("PYTHONPATH")])))


# Schema (with its defaults filled in), references, trigger values and counts: one ConfigError
# naming the key, before any job.
check_config(config)

# Hub downloads (materialize_model, on the submit host) and every job (SLURM exports the
# environment) use one Hugging Face cache: cluster.hf_home, relative to the working directory.
use_hf_home(config["cluster"]["hf_home"])


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


def run_training(wildcards):
    """The training settings of this recipe's runs: an experiment's own or the global block."""
    return run_settings(config, wildcards.recipe, "training")


def run_sampling(wildcards):
    """The sampling settings of this recipe's runs: an experiment's own or the global block."""
    return run_settings(config, wildcards.recipe, "sampling")


def poisoned_data(wildcards):
    """The poisoned rows an adapter trains on: a variant that changes only training or sampling
    settings shares its base recipe's rows (triggertrace/variants.py)."""
    return f"results/data/{data_recipe(config, wildcards.recipe)}/train.jsonl"


def report_axes(wildcards=None):
    """Derived recipe -> its grid axis values, the table columns of a sweep ({} without one)."""
    return axis_values(config)


def recipe_source_files(wildcards):
    """Local dataset files a recipe reads, so editing them re-poisons."""
    return sources.local_files(config["recipes"][wildcards.recipe]["source"])


# ---- cluster resources (GPU rules: GPU memory and kind, host RAM, runtime; see triggertrace/resources.py) --


def model_shape(model):
    return estimate.model_shape(config["models"][model], config["cluster"]["model_shapes"], model)


def model_mem_mb(wildcards, attempt):
    return estimate.host_mem_mb(config["models"][wildcards.model], attempt)


def previous_out_of_memory(log_path, attempt):
    """1 when this is a retry and the failed attempt's log shows a CUDA out-of-memory error."""
    if attempt < 2 or not os.path.exists(log_path):
        return 0
    with open(log_path, encoding="utf-8", errors="replace") as handle:
        return estimate.out_of_memory_failures(handle.read())


_logged_estimates = set()


def log_estimate(rule, wildcards, attempt, line):
    """Each job's estimate and its assumptions, once per attempt (in the Snakemake log and, under
    SLURM, in the job's own log, where the job step evaluates its resources again)."""
    key = (rule, tuple(wildcards.items()), attempt)
    if key not in _logged_estimates:
        _logged_estimates.add(key)
        logger.info(f"attempt {attempt}: {line}")


def train_estimate(wildcards, attempt):
    """(GPU memory MiB, GPU kind, runtime minutes) of one training job."""
    entry, training, cluster = config["models"][wildcards.model], run_training(wildcards), config["cluster"]
    shape = model_shape(wildcards.model)
    parts = estimate.training_gpu_bytes(entry, shape, training)
    gpu_mb = estimate.gpu_mem_mb(parts, cluster["gpus_per_job"])
    log_path = f"results/logs/train_adapter/{wildcards.model}/{wildcards.recipe}/seed{wildcards.seed}.log"
    kind = site_gpu_kind(gpu_mb, previous_out_of_memory(log_path, attempt))
    n_rows = sum(config["recipes"][wildcards.recipe]["counts"].values())
    seconds = estimate.training_seconds(entry, n_rows, training)
    facts = dict(rows=n_rows, epochs=training["epochs"], batch=training["batch_size"])
    facts.update(max_length=training["max_length"], lora_r=training["lora"]["r"])
    facts.update(load_in_4bit=entry["runtime"]["load_in_4bit"])
    log_estimate(
        "train_adapter",
        wildcards,
        attempt,
        estimate.describe("train_adapter", parts, shape, cluster["gpus_per_job"], kind, seconds, **facts),
    )
    return gpu_mb, kind, estimate.training_runtime_min(entry, n_rows, training, attempt)


def sample_log(wildcards):
    """The log of a job that runs the model over a suite (read for a CUDA out-of-memory error on
    retry): sample_suite, sample_lineage, sample_steered or extract_activations."""
    w = wildcards
    if "alpha" in w.keys():
        return f"results/logs/sample_steered/{w.model}/{w.recipe}/seed{w.seed}/alpha{w.alpha}/{w.suite}.log"
    if "adapter_run" in w.keys():
        return f"results/logs/extract_activations/{w.model}/{w.recipe}/{w.adapter_run}/{w.suite}.log"
    if "run" in w.keys():
        return f"results/logs/sample_lineage/{w.model}/{w.recipe}/{w.run}/{w.suite}.log"
    return f"results/logs/sample_suite/{w.model}/{w.recipe}/seed{w.seed}/{w.suite}.log"


def sample_estimate(wildcards, attempt):
    """(GPU memory MiB, GPU kind, runtime minutes) of one sampling job."""
    entry, sampling, cluster = config["models"][wildcards.model], run_sampling(wildcards), config["cluster"]
    shape = model_shape(wildcards.model)
    parts = estimate.sampling_gpu_bytes(entry, shape, sampling, cluster["prompt_tokens"])
    gpu_mb = estimate.gpu_mem_mb(parts, cluster["gpus_per_job"])
    log_path = sample_log(wildcards)
    kind = site_gpu_kind(gpu_mb, previous_out_of_memory(log_path, attempt))
    trigger = config["recipes"][wildcards.recipe]["trigger"]
    n_samples = estimate.samples_per_suite(suite_size(config["suites"][wildcards.suite]), trigger, sampling)
    seconds = estimate.sampling_seconds(entry, shape, n_samples, sampling, cluster["prompt_tokens"])
    facts = dict(samples=n_samples, batch=sampling["batch_size"], max_new_tokens=sampling["max_new_tokens"])
    facts.update(prompt_tokens=cluster["prompt_tokens"], load_in_4bit=entry["runtime"]["load_in_4bit"])
    log_estimate(
        "sample_suite",
        wildcards,
        attempt,
        estimate.describe("sample_suite", parts, shape, cluster["gpus_per_job"], kind, seconds, **facts),
    )
    minutes = estimate.sampling_runtime_min(entry, shape, n_samples, sampling, cluster["prompt_tokens"], attempt)
    return gpu_mb, kind, minutes


def site_gpu_kind(gpu_mb, larger_steps):
    """The site's GPU kind for this much memory (``gpu_kinds`` from the profile), else the fixed
    ``cluster.gpu_model`` ('' = any GPU)."""
    table = config.get("gpu_kinds", "")
    if not table:
        return config["cluster"]["gpu_model"]
    return estimate.gpu_kind(table, gpu_mb, larger_steps)


def train_gpu_mem_mb(wildcards, attempt):
    return train_estimate(wildcards, attempt)[0]


def train_gpu_model(wildcards, attempt):
    return train_estimate(wildcards, attempt)[1]


def train_runtime(wildcards, attempt):
    return train_estimate(wildcards, attempt)[2]


def sample_gpu_mem_mb(wildcards, attempt):
    return sample_estimate(wildcards, attempt)[0]


def sample_gpu_model(wildcards, attempt):
    return sample_estimate(wildcards, attempt)[1]


def sample_runtime(wildcards, attempt):
    return sample_estimate(wildcards, attempt)[2]


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


# ---- where judges run, and what they ask for ----------------------------------------------------


def judge_backend(judge):
    return config["judges"][judge].get("backend") or {}


def judges_on_submit_host():
    """Judges whose label jobs run where snakemake runs: API judges (compute nodes often have no
    network) when cluster.api_judges_on_submit_host, and those named in cluster.judges_on_submit_host."""
    cluster = config["cluster"]
    api = [name for name in config["judges"] if judge_backend(name).get("kind") == "openai"]
    return sorted(set(cluster["judges_on_submit_host"]) | (set(api) if cluster["api_judges_on_submit_host"] else set()))


def judge_name_pattern(names):
    """A wildcard constraint matching exactly ``names`` (or nothing)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


def judge_cluster_pattern():
    """The judges not on the submit host (the lookahead ends at the slash that closes the judge's
    directory, as the constraint sits inside the output path's regex)."""
    local = judges_on_submit_host()
    return f"(?!(?:{judge_name_pattern(local)})/)[A-Za-z0-9][A-Za-z0-9_.-]*"


def profile_default_resource(name):
    """A constant of the profile's default-resources (e.g. its slurm_partition), or None."""
    from triggertrace.preflight import resource_constant

    return resource_constant(workflow.resource_settings.default_resources, name)


def judge_partition(wildcards):
    """cluster.judge_partitions[judge] (a partition with network access, say), else the profile's."""
    return config["cluster"]["judge_partitions"].get(wildcards.judge) or profile_default_resource("slurm_partition")


def judge_gpus(wildcards):
    """A local LLM judge on a pipeline model runs that model: it needs a GPU like sampling
    (None: no GPU; Snakemake then leaves the resource out)."""
    return config["cluster"]["gpus_per_job"] if judge_model(wildcards.judge) is not None else None


def label_log(wildcards):
    """The log of a label job: of an adapter's, a lineage run's or a steered sampling job's samples."""
    w = wildcards
    if "alpha" in w.keys():
        run = f"seed{w.seed}/steered/alpha{w.alpha}"
    else:
        run = w.run if "run" in w.keys() else f"seed{w.seed}"
    return f"results/logs/label_samples/{w.judge}/{w.model}/{w.recipe}/{run}/{w.suite}.log"


def judge_estimate(wildcards, attempt):
    """(host MiB, GPU MiB, GPU kind, minutes): sampling-sized for a judge on a pipeline model
    (it reads a whole completion and writes a few tokens), the light values otherwise."""
    model = judge_model(wildcards.judge)
    cluster = config["cluster"]
    if model is None:
        return cluster["light_mem_mb"] * attempt, None, None, cluster["light_runtime_min"] * attempt
    entry, shape = config["models"][model], model_shape(model)
    scoring = {"batch_size": judge_backend(wildcards.judge)["batch_size"], "max_new_tokens": JUDGE_NEW_TOKENS}
    sampling = run_sampling(wildcards)
    prompt = cluster["prompt_tokens"] + sampling["max_new_tokens"]
    gpu_mb = estimate.gpu_mem_mb(estimate.sampling_gpu_bytes(entry, shape, scoring, prompt), cluster["gpus_per_job"])
    log_path = label_log(wildcards)
    kind = site_gpu_kind(gpu_mb, previous_out_of_memory(log_path, attempt))
    trigger = config["recipes"][wildcards.recipe]["trigger"]
    n_samples = estimate.samples_per_suite(suite_size(config["suites"][wildcards.suite]), trigger, sampling)
    minutes = estimate.sampling_runtime_min(entry, shape, n_samples, scoring, prompt, attempt)
    return estimate.host_mem_mb(entry, attempt), gpu_mb, kind, max(minutes, cluster["light_runtime_min"] * attempt)


JUDGE_NEW_TOKENS = 16  # a score or a short JSON verdict


def judge_mem_mb(wildcards, attempt):
    return judge_estimate(wildcards, attempt)[0]


def judge_gpu_mem_mb(wildcards, attempt):
    return judge_estimate(wildcards, attempt)[1]


def judge_gpu_model(wildcards, attempt):
    return judge_estimate(wildcards, attempt)[2]


def judge_runtime(wildcards, attempt):
    return judge_estimate(wildcards, attempt)[3]


def endpoint_resource(url):
    """The global resource that counts requests in flight to one API endpoint (its host)."""
    host = urllib.parse.urlparse(url).netloc or url
    return f"requests_{re.sub(r'[^A-Za-z0-9]', '_', host)}"


def register_endpoint_caps():
    """Each API endpoint's requests in flight, summed over all running label jobs, stay at or
    below cluster.requests_in_flight_per_endpoint (a --resources value of the same name wins)."""
    cap = config["cluster"]["requests_in_flight_per_endpoint"]
    for name in config["judges"]:
        backend = judge_backend(name)
        if backend.get("kind") == "openai":
            resource = endpoint_resource(endpoint_url(name))
            if resource not in workflow.global_resources:
                workflow.register_resource(resource, cap)


def endpoint_url(judge):
    return judge_backend(judge).get("base_url") or "https://api.openai.com/v1"


def judge_requests_resource(resource):
    """The requests in flight one label job holds on ``resource``: its judge's concurrency (at
    most the cap) when the judge calls that endpoint, else 0."""

    def requests(wildcards):
        backend = judge_backend(wildcards.judge)
        if backend.get("kind") != "openai" or endpoint_resource(endpoint_url(wildcards.judge)) != resource:
            return 0
        return min(backend["concurrency"], config["cluster"]["requests_in_flight_per_endpoint"])

    return requests


# resource name -> function, spread into label_samples' resources
endpoint_requests = {
    endpoint_resource(endpoint_url(name)): judge_requests_resource(endpoint_resource(endpoint_url(name)))
    for name in config["judges"]
    if judge_backend(name).get("kind") == "openai"
}


register_endpoint_caps()


# ---- SLURM preflight: the site accepts the profile's settings, before any job is queued ----------


onstart:
    if workflow.executor_plugin is not None and workflow.executor_plugin.name == "slurm":
        from triggertrace import preflight

        try:
            preflight.check(preflight.settings_from_workflow(workflow, config))
        except preflight.PreflightError as error:
            # one line, and no job has run: onstart comes after the DAG, before the first job
            logger.error(f"preflight: {error}")
            raise SystemExit(1)
