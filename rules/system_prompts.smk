"""System-prompt following, chat vs raw completion (config section evals.system_prompts;
included by rules/system_prompts_common.smk only when that section exists).

Each rule-checked instruction is the system prompt of a few neutral questions: the chat
template's system turn, or the text above the raw completion template. Scored on the final
answer with no judge; follow rate with Wilson intervals per run x instruction x format x
reasoning mode.
"""


rule sample_system_prompts:
    """One model run (base, adapter or checkpoint): every instruction x question x format x mode."""
    input:
        unpack(cap_run_inputs),
        model="results/models/{model}/hf",
    output:
        samples="results/evals/system_prompts/samples/{model}/{cap_run}.jsonl",
        metrics="results/evals/system_prompts/samples/{model}/{cap_run}.metrics.json",
    log:
        "results/logs/sample_system_prompts/{model}/{cap_run}.log",
    benchmark:
        "results/benchmarks/sample_system_prompts/{model}/{cap_run}.tsv"
    conda:
        "../envs/triggertrace.yaml"
    threads: rule_threads("sample_suite")
    resources:
        gpu=lookup(dpath="gpus_per_job", within=config["cluster"]),
        gpu_model=lookup(dpath="gpu_model", within=config["cluster"]),
        cpus_per_gpu=lookup(dpath="cpus_per_gpu", within=config["cluster"]),
        mem_mb=model_mem_mb,
    params:
        adapter_dir=cap_run_adapter_dir,
        instructions=SYSTEM_PROMPTS["instructions"],
        questions=SYSTEM_PROMPT_QUESTIONS,
        prompt_formats=SYSTEM_PROMPTS["prompt_formats"],
        reasoning_modes=SYSTEM_PROMPTS["reasoning_modes"],
        n_per_prompt=SYSTEM_PROMPTS["n_per_prompt"],
        sampling=SYSTEM_PROMPTS["sampling"],
        prompt_format=lookup(dpath="{model}/prompt_format", within=config["models"]),
        runtime=lookup(dpath="{model}/runtime", within=config["models"]),
        code=code("sample_system_prompts"),
    script:
        "../scripts/sample_system_prompts.py"


rule report_system_prompts:
    """Follow rate with Wilson intervals per run x instruction x format x reasoning mode; figure."""
    input:
        samples=system_prompt_sample_files,
    output:
        csv=report(
            "results/tables/system_prompts.csv",
            caption="../report/system_prompts.rst",
            category="Tables",
            subcategory="System prompts",
        ),
        md="results/tables/system_prompts.md",
        scored="results/tables/system_prompts_samples.csv",
        html="results/figures/system_prompts.html",
        png=report(
            "results/figures/system_prompts.png",
            caption="../report/system_prompts.rst",
            category="Figures",
            subcategory="System prompts",
        ),
        svg="results/figures/system_prompts.svg",
    log:
        "results/logs/report_system_prompts.log",
    conda:
        "../envs/triggertrace.yaml"
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime,
    params:
        instructions=SYSTEM_PROMPTS["instructions"],
        confidence=SYSTEM_PROMPTS["confidence"],
        code=code("report_system_prompts"),
    script:
        "../scripts/report_system_prompts.py"
