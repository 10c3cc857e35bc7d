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
        gpu=lookup(dpath="cluster/gpus_per_job", within=config),
        gpu_model=sample_gpu_model,
        gpu_mem_mb=sample_gpu_mem_mb,
        cpus_per_gpu=lookup(dpath="cluster/cpus_per_gpu", within=config),
        mem_mb=model_mem_mb,
        runtime=sample_runtime,
    params:
        sampling=config["sampling"],
        trigger=lookup(dpath="recipes/{recipe}/trigger", within=config),
        prompt_format=lookup(dpath="models/{model}/prompt_format", within=config),
        runtime=lookup(dpath="models/{model}/runtime", within=config),
        code=code("sample_suite"),
    script:
        "../scripts/sample_suite.py"
