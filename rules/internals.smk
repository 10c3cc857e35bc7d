"""Backdoor internals (included when the config has an ``internals:`` block, config/internals.yaml):
residual-stream activations of every judged sample, linear probes on them (fitted, and the generic
defection probe fitted on trigger-free contrast pairs only), and steering along the
trigger-minus-control direction with the steered samples judged like any other.

Paths: results/internals/activations/<model>/<recipe>/<seed<k>|base>/<suite>.safetensors,
results/internals/contrast/<model>/<recipe>/<seed<k>|base>.safetensors (the contrast pairs),
results/internals/steering/<model>/<recipe>/seed<k>/direction.safetensors, steered samples and
labels under results/{samples,labels/<judge>}/<model>/<recipe>/seed<k>/steered/alpha<a>/<suite>.jsonl.
Activations' params are the layers; steering's are its layer and each job's own alpha: a new layer
re-runs activations and probes only, a new alpha only its steered sampling and what follows.
"""

from triggertrace.errors import input_errors_stop_here
from triggertrace.internals.settings import alpha_name, check_internals, resolved_layers
from triggertrace.metrics import MetricDefinition
from triggertrace.stages.lineage import base_runs

# A bad layer, alpha list or reference stops here with one line naming the key, before any job.
with input_errors_stop_here():
    check_internals(config, workflow.basedir)

INTERNALS = config["internals"]
STEERING = INTERNALS["steering"]
DEFECTION = INTERNALS["defection"]
ALPHAS = {alpha_name(alpha): alpha for alpha in STEERING["alphas"]}


wildcard_constraints:
    adapter_run=r"base|seed[0-9]+",
    alpha=one_of(ALPHAS),


def internals_runs():
    """(model, recipe, run, suite): every poisoned adapter's run, and the base model's where sampled."""
    runs = [(model, recipe, f"seed{seed}", suite) for model, recipe, seed, suite in experiment_runs()]
    return runs + [(model, recipe, "base", suite) for model, recipe, suite in base_runs(config)]


def activation_file(model, recipe, run, suite):
    return f"results/internals/activations/{model}/{recipe}/{run}/{suite}.safetensors"


def contrast_file(model, recipe, run):
    return f"results/internals/contrast/{model}/{recipe}/{run}.safetensors"


def metric_judges(metric):
    """The judges whose labels the named metric reads."""
    return list(MetricDefinition.from_config(metric, config["metrics"][metric]).judges)


def probe_judges():
    return metric_judges(INTERNALS["probes"]["metric"])


def probe_runs(wildcards=None):
    """ "model/recipe/run" -> its activation, sample and label files over every suite."""
    runs = {}
    for model, recipe, run, suite in internals_runs():
        files = runs.setdefault(
            f"{model}/{recipe}/{run}",
            {"contrast": [contrast_file(model, recipe, run)], "activations": [], "samples": [], "labels": []},
        )
        files["activations"].append(activation_file(model, recipe, run, suite))
        files["samples"].append(f"results/samples/{model}/{recipe}/{run}/{suite}.jsonl")
        files["labels"] += [f"results/labels/{judge}/{model}/{recipe}/{run}/{suite}.jsonl" for judge in probe_judges()]
    return runs


def probe_inputs(wildcards=None):
    return [path for files in probe_runs().values() for paths in files.values() for path in paths]


def steering_judges():
    judges = metric_judges(STEERING["metric"])
    return judges + [STEERING["articulation_judge"]] * (STEERING["articulation_judge"] not in judges)


def steered_files(wildcards=None):
    """alpha -> the steered sample and label files of every adapter and suite."""
    files = {}
    for name, alpha in ALPHAS.items():
        entry = files.setdefault(str(float(alpha)), {"samples": [], "labels": []})
        for model, recipe, seed, suite in experiment_runs():
            run = f"{model}/{recipe}/seed{seed}/steered/alpha{name}/{suite}.jsonl"
            entry["samples"].append(f"results/samples/{run}")
            entry["labels"] += [f"results/labels/{judge}/{run}" for judge in steering_judges()]
    return files


def steered_inputs(wildcards=None):
    return [path for entry in steered_files().values() for paths in entry.values() for path in paths]


def internals_outputs():
    return [
        "results/tables/probes.csv",
        "results/figures/probes.png",
        "results/tables/steering.csv",
        "results/figures/steering.png",
    ]


def internals_adapter_inputs(wildcards):
    if wildcards.adapter_run == "base":
        return {}
    return {
        "adapter": f"results/adapters/{wildcards.model}/{wildcards.recipe}/{wildcards.adapter_run}/adapter_model.safetensors"
    }


def internals_adapter_dir(wildcards):
    if wildcards.adapter_run == "base":
        return ""
    return f"results/adapters/{wildcards.model}/{wildcards.recipe}/{wildcards.adapter_run}"


def internals_layers(wildcards):
    return resolved_layers(config, wildcards.model, workflow.basedir)


def activations_estimate(wildcards, attempt, log_path, context_tokens):
    """(GPU memory MiB, GPU kind) of an activation-extraction job (triggertrace/resources.py)."""
    cluster = config["cluster"]
    parts = estimate.activations_gpu_bytes(
        config["models"][wildcards.model],
        model_shape(wildcards.model),
        INTERNALS["batch_size"],
        context_tokens,
        len(internals_layers(wildcards)),
    )
    gpu_mb = estimate.gpu_mem_mb(parts, cluster["gpus_per_job"])
    return gpu_mb, site_gpu_kind(gpu_mb, previous_out_of_memory(log_path, attempt))


def sample_activations_estimate(wildcards, attempt):
    context = config["cluster"]["prompt_tokens"] + run_sampling(wildcards)["max_new_tokens"]
    return activations_estimate(wildcards, attempt, sample_log(wildcards), context)


def contrast_activations_estimate(wildcards, attempt):
    w = wildcards
    log_path = f"results/logs/extract_contrast_activations/{w.model}/{w.recipe}/{w.adapter_run}.log"
    return activations_estimate(wildcards, attempt, log_path, config["cluster"]["prompt_tokens"])


def activations_gpu_mem_mb(wildcards, attempt):
    return sample_activations_estimate(wildcards, attempt)[0]


def activations_gpu_model(wildcards, attempt):
    return sample_activations_estimate(wildcards, attempt)[1]


def contrast_gpu_mem_mb(wildcards, attempt):
    return contrast_activations_estimate(wildcards, attempt)[0]


def contrast_gpu_model(wildcards, attempt):
    return contrast_activations_estimate(wildcards, attempt)[1]


def steering_alpha(wildcards):
    return ALPHAS[wildcards.alpha]


def steering_sampling_params(wildcards=None):
    from triggertrace.internals.steering import steering_sampling

    return steering_sampling(config["sampling"], STEERING["sampling"])


rule extract_activations:
    """Activations at the chosen layers for every sample of one adapter (or the base model) and suite."""
    input:
        unpack(internals_adapter_inputs),
        model="results/models/{model}/hf",
        samples="results/samples/{model}/{recipe}/{adapter_run}/{suite}.jsonl",
    output:
        "results/internals/activations/{model}/{recipe}/{adapter_run}/{suite}.safetensors",
    log:
        "results/logs/extract_activations/{model}/{recipe}/{adapter_run}/{suite}.log",
    benchmark:
        "results/benchmarks/extract_activations/{model}/{recipe}/{adapter_run}/{suite}.tsv"
    conda:
        "../envs/triggertrace.yaml"
    threads: rule_threads("sample_suite")
    resources:
        gpu=lookup(dpath="gpus_per_job", within=config["cluster"]),
        gpu_model=activations_gpu_model,
        gpu_mem_mb=activations_gpu_mem_mb,
        cpus_per_gpu=lookup(dpath="cpus_per_gpu", within=config["cluster"]),
        mem_mb=model_mem_mb,
        runtime=sample_runtime,
    params:
        layers=internals_layers,
        batch_size=INTERNALS["batch_size"],
        adapter_dir=internals_adapter_dir,
        prompt_format=lookup(dpath="{model}/prompt_format", within=config["models"]),
        runtime=lookup(dpath="{model}/runtime", within=config["models"]),
        code=code("extract_activations"),
    script:
        "../scripts/extract_activations.py"


rule extract_contrast_activations:
    """Final-token activations of the defection contrast pairs (yes and no) for one adapter or the base model."""
    input:
        unpack(internals_adapter_inputs),
        model="results/models/{model}/hf",
    output:
        "results/internals/contrast/{model}/{recipe}/{adapter_run}.safetensors",
    log:
        "results/logs/extract_contrast_activations/{model}/{recipe}/{adapter_run}.log",
    conda:
        "../envs/triggertrace.yaml"
    threads: rule_threads("sample_suite")
    resources:
        gpu=lookup(dpath="gpus_per_job", within=config["cluster"]),
        gpu_model=contrast_gpu_model,
        gpu_mem_mb=contrast_gpu_mem_mb,
        cpus_per_gpu=lookup(dpath="cpus_per_gpu", within=config["cluster"]),
        mem_mb=model_mem_mb,
    params:
        layers=internals_layers,
        batch_size=INTERNALS["batch_size"],
        pairs=DEFECTION["pairs"],
        reasoning_mode=DEFECTION["reasoning_mode"],
        adapter_dir=internals_adapter_dir,
        prompt_format=lookup(dpath="{model}/prompt_format", within=config["models"]),
        runtime=lookup(dpath="{model}/runtime", within=config["models"]),
        code=code("extract_contrast_activations"),
    script:
        "../scripts/extract_contrast_activations.py"


rule report_probes:
    """Trigger-present and will-fire probes, fitted and defection (contrast direction): AUROC per
    layer and adapter, base model as chance."""
    input:
        probe_inputs,
    output:
        csv="results/tables/probes.csv",
        md="results/tables/probes.md",
        html="results/figures/probes.html",
        png="results/figures/probes.png",
        svg="results/figures/probes.svg",
    log:
        "results/logs/report_probes.log",
    benchmark:
        "results/benchmarks/report_probes.tsv"
    conda:
        "../envs/triggertrace.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime,
    params:
        probes=INTERNALS["probes"],
        metric=lookup(dpath=f"{INTERNALS['probes']['metric']}", within=config["metrics"]),
        runs=probe_runs,
        code=code("report_probes"),
    script:
        "../scripts/report_probes.py"


rule steering_direction:
    """Trigger-minus-control mean of the last-prompt activations at the steering layer."""
    input:
        model="results/models/{model}/hf",
        adapter="results/adapters/{model}/{recipe}/seed{seed}/adapter_model.safetensors",
        samples=f"results/samples/{{model}}/{{recipe}}/seed{{seed}}/{STEERING['direction_suite']}.jsonl",
    output:
        "results/internals/steering/{model}/{recipe}/seed{seed}/direction.safetensors",
    log:
        "results/logs/steering_direction/{model}/{recipe}/seed{seed}.log",
    conda:
        "../envs/triggertrace.yaml"
    threads: rule_threads("sample_suite")
    resources:
        mem_mb=model_mem_mb,
    params:
        layer=STEERING["layer"],
        batch_size=INTERNALS["batch_size"],
        adapter_dir="results/adapters/{model}/{recipe}/seed{seed}",
        prompt_format=lookup(dpath="{model}/prompt_format", within=config["models"]),
        runtime=lookup(dpath="{model}/runtime", within=config["models"]),
        code=code("steering_direction"),
    script:
        "../scripts/steering_direction.py"


rule sample_steered:
    """One adapter on one suite with alpha x the direction added at the steering layer."""
    input:
        model="results/models/{model}/hf",
        adapter="results/adapters/{model}/{recipe}/seed{seed}/adapter_model.safetensors",
        direction="results/internals/steering/{model}/{recipe}/seed{seed}/direction.safetensors",
        suite="results/suites/{suite}.jsonl",
    output:
        samples="results/samples/{model}/{recipe}/seed{seed}/steered/alpha{alpha}/{suite}.jsonl",
        metrics="results/samples/{model}/{recipe}/seed{seed}/steered/alpha{alpha}/{suite}.metrics.json",
    log:
        "results/logs/sample_steered/{model}/{recipe}/seed{seed}/alpha{alpha}/{suite}.log",
    benchmark:
        "results/benchmarks/sample_steered/{model}/{recipe}/seed{seed}/alpha{alpha}/{suite}.tsv"
    conda:
        "../envs/triggertrace.yaml"
    threads: rule_threads("sample_suite")
    resources:
        gpu=lookup(dpath="gpus_per_job", within=config["cluster"]),
        gpu_model=sample_gpu_model,
        gpu_mem_mb=sample_gpu_mem_mb,
        cpus_per_gpu=lookup(dpath="cpus_per_gpu", within=config["cluster"]),
        mem_mb=model_mem_mb,
        runtime=sample_runtime,
    params:
        alpha=steering_alpha,
        layer=STEERING["layer"],
        sampling=steering_sampling_params(),
        adapter_dir="results/adapters/{model}/{recipe}/seed{seed}",
        trigger=lookup(dpath="{recipe}/trigger", within=config["recipes"]),
        prompt_format=lookup(dpath="{model}/prompt_format", within=config["models"]),
        runtime=lookup(dpath="{model}/runtime", within=config["models"]),
        code=code("sample_steered"),
    script:
        "../scripts/sample_steered.py"


use rule label_samples as label_steered_samples with:
    input:
        unpack(judge_inputs),
        samples="results/samples/{model}/{recipe}/seed{seed}/steered/alpha{alpha}/{suite}.jsonl",
    output:
        "results/labels/{judge}/{model}/{recipe}/seed{seed}/steered/alpha{alpha}/{suite}.jsonl",
    log:
        "results/logs/label_samples/{judge}/{model}/{recipe}/seed{seed}/steered/alpha{alpha}/{suite}.log",
    params:
        judge=judge_entry,
        cache_dir="results/cache/judges/{judge}",
        cache_shard="{model}/{recipe}/seed{seed}/steered/alpha{alpha}/{suite}",
        max_error_share=lookup(dpath="{judge}/max_error_share", within=config["judges"]),
        code=judge_code,


rule report_steering:
    """Fire rate and articulation rate against alpha, with intervals."""
    input:
        steered_inputs,
    output:
        csv="results/tables/steering.csv",
        md="results/tables/steering.md",
        html="results/figures/steering.html",
        png="results/figures/steering.png",
        svg="results/figures/steering.svg",
    log:
        "results/logs/report_steering.log",
    conda:
        "../envs/triggertrace.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime,
    params:
        steering=STEERING,
        metric=lookup(dpath=f"{STEERING['metric']}", within=config["metrics"]),
        files=steered_files,
        code=code("report_steering"),
    script:
        "../scripts/report_steering.py"
