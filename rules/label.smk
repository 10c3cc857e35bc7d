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
    wildcard_constraints:
        judge=judge_cluster_pattern(),
    conda:
        "../envs/triggertrace.yaml"
    threads: rule_threads("label_samples")
    resources:
        **endpoint_requests,
        mem_mb=judge_mem_mb,
        runtime=judge_runtime,
        gpu=judge_gpus,
        gpu_model=judge_gpu_model,
        gpu_mem_mb=judge_gpu_mem_mb,
        slurm_partition=judge_partition,
    params:
        judge=judge_entry,
        cache_dir="results/cache/judges/{judge}",
        cache_shard="{model}/{recipe}/seed{seed}/{suite}",
        max_error_share=lookup(dpath="{judge}/max_error_share", within=config["judges"]),
        code=judge_code,
    script:
        "../scripts/label_samples.py"


# API judges (and those named in cluster.judges_on_submit_host) label where snakemake runs: compute
# nodes often have no network. Same rule, run locally for those judges only.
localrules:
    label_samples_on_submit_host,


use rule label_samples as label_samples_on_submit_host with:
    wildcard_constraints:
        judge=judge_name_pattern(judges_on_submit_host()),
