rule sample_suite:
    """One job per adapter and suite: loads the model once, samples every condition and format."""
    input:
        model="results/models/{model}/hf",
        adapter_config="results/adapters/{model}/{recipe}/seed{seed}/adapter_config.json",
        weights="results/adapters/{model}/{recipe}/seed{seed}/adapter_model.safetensors",
        suite="results/suites/{suite}.jsonl",
        lib=library("sample_suite"),
    output:
        samples="results/samples/{model}/{recipe}/seed{seed}/{suite}.jsonl",
        metrics="results/samples/{model}/{recipe}/seed{seed}/{suite}.metrics.json",
    log:
        "results/logs/sample_suite/{model}/{recipe}/seed{seed}/{suite}.log",
    benchmark:
        "results/benchmarks/sample_suite/{model}/{recipe}/seed{seed}/{suite}.tsv"
    conda:
        "../envs/triggertrace.yaml"
    threads: config["threads"]
    resources:
        gpu=gpu_count,
        gpu_model=sample_gpu_model,
        gpu_mem_mb=sample_gpu_mem_mb,
        cpus_per_gpu=cpus_per_gpu,
        mem_mb=model_mem_mb,
        runtime=sample_runtime,
    params:
        sampling=config["sampling"],
        trigger=recipe_trigger,
        prompt_format=model_prompt_format,
        runtime=model_runtime,
    script:
        "../scripts/sample_suite.py"
