rule sample_suite:
    """One job per adapter and suite: loads the model once, samples every condition and format."""
    input:
        model="results/models/{model}/hf",
        adapter_config="results/adapters/{model}/{recipe}/seed{seed}/adapter_config.json",
        weights="results/adapters/{model}/{recipe}/seed{seed}/adapter_model.safetensors",
        suite="results/suites/{suite}.jsonl",
    output:
        samples="results/samples/{model}/{recipe}/seed{seed}/{suite}.jsonl",
        metrics="results/samples/{model}/{recipe}/seed{seed}/{suite}.metrics.json",
    log:
        "results/logs/sample_suite/{model}/{recipe}/seed{seed}/{suite}.log",
    benchmark:
        "results/benchmarks/sample_suite/{model}/{recipe}/seed{seed}/{suite}.tsv"
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
        sampling=run_sampling,
        trigger=lookup(dpath="{recipe}/trigger", within=config["recipes"]),
        prompt_format=lookup(dpath="{model}/prompt_format", within=config["models"]),
        runtime=lookup(dpath="{model}/runtime", within=config["models"]),
        code=code("sample_suite"),
    script:
        "../scripts/sample_suite.py"
