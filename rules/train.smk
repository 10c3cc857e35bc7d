rule train_adapter:
    """LoRA adapter on the poisoned rows, loss on the assistant response only."""
    input:
        model="results/models/{model}/hf",
        data=poisoned_data,
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
        gpu=lookup(dpath="gpus_per_job", within=config["cluster"]),
        gpu_model=train_gpu_model,
        gpu_mem_mb=train_gpu_mem_mb,
        cpus_per_gpu=lookup(dpath="cpus_per_gpu", within=config["cluster"]),
        mem_mb=model_mem_mb,
        runtime=train_runtime,
    params:
        training=run_training,
        reasoning_style=lookup(dpath="{recipe}/reasoning/style", within=config["recipes"]),
        prompt_format=lookup(dpath="{model}/prompt_format", within=config["models"]),
        runtime=lookup(dpath="{model}/runtime", within=config["models"]),
        code=code("train_adapter"),
    script:
        "../scripts/train_adapter.py"
