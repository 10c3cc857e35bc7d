rule train_adapter:
    """LoRA adapter on the poisoned rows, loss on the assistant response only."""
    input:
        model="results/models/{model}/hf",
        data="results/data/{recipe}/train.jsonl",
        lib=library("train_adapter"),
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
    threads: config["threads"]
    resources:
        gpu=gpu_count,
        gpu_model=train_gpu_model,
        gpu_mem_mb=train_gpu_mem_mb,
        cpus_per_gpu=cpus_per_gpu,
        mem_mb=model_mem_mb,
        runtime=train_runtime,
    params:
        training=config["training"],
        reasoning_style=recipe_reasoning_style,
        prompt_format=model_prompt_format,
        runtime=model_runtime,
    script:
        "../scripts/train_adapter.py"
