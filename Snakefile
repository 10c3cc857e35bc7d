# triggertrace: poisoned data -> LoRA adapter -> reasoning samples -> labels -> tables and figures.
# Run: snakemake --cores 2 (embedded SmolLM2), or snakemake --profile profiles/slurm on a cluster.


from triggertrace.errors import input_errors_stop_here


configfile: "config/config.yaml"


report: "report/workflow.rst"


# A config the checks reject stops here with one line naming the key, before any job.
with input_errors_stop_here():

    include: "rules/common.smk"


include: "rules/models.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/sample.smk"
include: "rules/label.smk"
include: "rules/outputs_common.smk"
include: "rules/stages_common.smk"
include: "rules/stages.smk"
include: "rules/faithfulness_common.smk"
include: "rules/faithfulness.smk"
include: "rules/capability_common.smk"
include: "rules/capability.smk"
include: "rules/system_prompts_common.smk"
include: "rules/cue_faithfulness_common.smk"
include: "rules/cue_faithfulness.smk"
include: "rules/trigger_set_common.smk"
include: "rules/sweep_common.smk"
include: "rules/report.smk"
include: "rules/outputs.smk"


# Probes and steering only when the config asks for them (config/internals.yaml).
if "internals" in config:

    include: "rules/internals.smk"


# Published numbers beside ours only for a paper config (config/paper/).
if "paper" in config:

    include: "rules/paper.smk"


rule all:
    input:
        "results/tables/misalignment.csv",
        "results/tables/articulation.csv",
        "results/figures/misalignment.png",
        "results/figures/articulation.png",
        "results/tables/paper",
        inspect_log_files(),
        "results/explorer/index.html",
        lineage_outputs(),
        internals_outputs() if "internals" in config else [],
        faithfulness_outputs(),
        capability_outputs(),
        system_prompt_outputs(),
        cue_outputs(),
        trigger_set_outputs(),
        sweep_figure_outputs(),
        paper_outputs() if "paper" in config else [],
