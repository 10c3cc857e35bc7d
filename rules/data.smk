localrules:
    poison_dataset,
    build_suite,


rule poison_dataset:
    """Recipe -> poisoned training rows (seeded, byte-identical for the same recipe)."""
    input:
        sources=recipe_source_files,
    output:
        data="results/data/{recipe}/train.jsonl",
        manifest="results/data/{recipe}/manifest.json",
    log:
        "results/logs/poison_dataset/{recipe}.log",
    conda:
        "../envs/triggertrace.yaml"
    threads: rule_threads("poison_dataset")
    params:
        recipe=lookup(dpath="{recipe}", within=config["recipes"]),
        code=code("poison_dataset"),
    script:
        "../scripts/poison_dataset.py"


rule build_suite:
    """Held-out evaluation prompts, before any trigger is applied."""
    input:
        sources=suite_source_files,
    output:
        "results/suites/{suite}.jsonl",
    log:
        "results/logs/build_suite/{suite}.log",
    conda:
        "../envs/triggertrace.yaml"
    threads: rule_threads("build_suite")
    params:
        suite=lookup(dpath="{suite}", within=config["suites"]),
        code=code("build_suite"),
    script:
        "../scripts/build_suite.py"
