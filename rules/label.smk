rule label_samples:
    """One judge's verdict on every sample of one sampling job.

    LLM judges share one row cache per judge under results/cache/: it is no declared output, so
    it survives an interrupted or failed job and the next run asks only for missing rows.
    """
    input:
        unpack(judge_inputs),
        samples="results/samples/{model}/{recipe}/seed{seed}/{suite}.jsonl",
    output:
        "results/labels/{judge}/{model}/{recipe}/seed{seed}/{suite}.jsonl",
    log:
        "results/logs/label_samples/{judge}/{model}/{recipe}/seed{seed}/{suite}.log",
    conda:
        "../envs/triggertrace.yaml"
    threads: rule_threads("label_samples")
    resources:
        mem_mb=light_mem_mb,
        runtime=light_runtime,
    params:
        judge=judge_entry,
        cache_dir="results/cache/judges/{judge}",
        cache_shard="{model}/{recipe}/seed{seed}/{suite}",
        max_error_share=lookup(dpath="judges/{judge}/max_error_share", within=config),
        code=judge_code,
    script:
        "../scripts/label_samples.py"
