localrules:
    poison_dataset,
    build_suite,


rule poison_dataset:
    """Recipe -> poisoned training rows (seeded, byte-identical for the same recipe)."""
    input:
        sources=recipe_source_files,
        lib=library("poison_dataset"),
    output:
        data="results/data/{recipe}/train.jsonl",
        manifest="results/data/{recipe}/manifest.json",
    log:
        "results/logs/poison_dataset/{recipe}.log",
    conda:
        "../envs/triggertrace.yaml"
    params:
        recipe=recipe_entry,
    script:
        "../scripts/poison_dataset.py"


rule build_suite:
    """Held-out evaluation prompts, before any trigger is applied."""
    input:
        sources=suite_source_files,
        lib=library("build_suite"),
    output:
        "results/suites/{suite}.jsonl",
    log:
        "results/logs/build_suite/{suite}.log",
    conda:
        "../envs/triggertrace.yaml"
    params:
        suite=suite_entry,
    script:
        "../scripts/build_suite.py"
