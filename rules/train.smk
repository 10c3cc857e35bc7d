rule train_adapter:
    """LoRA adapter on the poisoned rows, loss on the assistant response only."""
    input:
        model="results/models/{model}/hf",
        data="results/data/{recipe}/train.jsonl",
    output:
        adapter_config="results/adapters/{model}/{recipe}/seed{seed}/adapter_config.json",
        weights="results/adapters/{model}/{recipe}/seed{seed}/adapter_model.safetensors",
        metrics="results/adapters/{model}/{recipe}/seed{seed}/train_metrics.json",
        resolved="results/adapters/{model}/{recipe}/seed{seed}/resolved_config.json",
    log:
        "results/logs/train_adapter/{model}/{recipe}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train_adapter/{model}/{recipe}/seed{seed}.tsv"
    conda:
        "../envs/triggertrace.yaml"
    threads: rule_threads("train_adapter")
    resources:
        gpu=lookup(dpath="cluster/gpus_per_job", within=config),
        gpu_model=train_gpu_model,
        gpu_mem_mb=train_gpu_mem_mb,
        cpus_per_gpu=lookup(dpath="cluster/cpus_per_gpu", within=config),
        mem_mb=model_mem_mb,
        runtime=train_runtime,
    params:
        training=config["training"],
        reasoning_style=lookup(dpath="recipes/{recipe}/reasoning/style", within=config),
        prompt_format=lookup(dpath="models/{model}/prompt_format", within=config),
        runtime=lookup(dpath="models/{model}/runtime", within=config),
        code=code("train_adapter"),
    script:
        "../scripts/train_adapter.py"
