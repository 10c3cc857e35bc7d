# triggertrace: poisoned data -> LoRA adapter -> reasoning samples -> labels -> tables and figures.
# Run: snakemake --cores 2 (embedded SmolLM2), or snakemake --profile profiles/slurm on a cluster.


configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/models.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/sample.smk"
include: "rules/label.smk"
include: "rules/stages.smk"
include: "rules/report.smk"


rule all:
    input:
        "results/tables/misalignment.csv",
        "results/tables/articulation.csv",
        "results/figures/misalignment.png",
        "results/figures/articulation.png",
        lineage_outputs(),
