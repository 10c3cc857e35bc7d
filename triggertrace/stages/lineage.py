"""Adapter lineage: which adapters an experiment evaluates, and where each one lives.

An experiment's adapters form a chain: the untouched base model (``base``), the poisoned adapter
(``poisoned``, trained by ``train_adapter``), then every configured stage, each starting from the
last checkpoint of the stage before it. A stage's checkpoints live under the poisoned adapter's
directory, one path segment per stage, so the path shows the lineage::

    results/adapters/<model>/<recipe>/seed<seed>/                               poisoned
    results/adapters/<model>/<recipe>/seed<seed>/safety-sft/checkpoints/step10/  after 10 SFT steps
    results/adapters/<model>/<recipe>/seed<seed>/safety-sft/rl/checkpoints/step8/

Samples and labels of these adapters use a *run* path segment in place of ``seed<seed>``:
``base`` or ``seed<seed>/<lineage>/step<k>``; sample rows carry the adapter as ``adapter``
(``base``, ``poisoned`` or ``<lineage>/step<k>``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from triggertrace.errors import ConfigError, key_path
from triggertrace.io import content_hash

BASE = "base"
POISONED = "poisoned"
STAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
RESERVED_NAMES = frozenset({BASE, POISONED, "checkpoints"})
STEP_NAME = re.compile(r"^step[0-9]+$")
# a run path segment that is not the poisoned adapter's plain "seed<seed>"
RUN_PATTERN = r"base|seed[0-9]+(/[A-Za-z0-9][A-Za-z0-9_.-]*)+/step[0-9]+"
LINEAGE_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*"
DATASET_KINDS = ("recipe-aligned", "messages", "arithmetic")
ADAPTER_MODES = ("continue", "fresh")


@dataclass(frozen=True)
class StagePlan:
    """One stage of one experiment seed: its config entry and where it starts from."""

    model: str
    recipe: str
    seed: int
    lineage: str  # stage names joined by "/", e.g. "safety-sft/rl"
    index: int  # position in the experiment's stage list
    entry: dict[str, Any]
    parent_lineage: str | None  # None: starts from the poisoned adapter
    parent_step: int | None  # the parent stage's last checkpoint step

    @property
    def seed_dir(self) -> str:
        return f"results/adapters/{self.model}/{self.recipe}/seed{self.seed}"

    @property
    def stage_dir(self) -> str:
        return f"{self.seed_dir}/{self.lineage}"

    @property
    def checkpoints_dir(self) -> str:
        return f"{self.stage_dir}/checkpoints"

    @property
    def parent_dir(self) -> str:
        """The adapter directory this stage starts from."""
        if self.parent_lineage is None:
            return self.seed_dir
        return f"{self.seed_dir}/{self.parent_lineage}/checkpoints/step{self.parent_step}"

    def run(self, step: int) -> str:
        return f"seed{self.seed}/{self.lineage}/step{step}"


def experiment_stages(config: Mapping[str, Any], experiment: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An experiment's own ``stages`` list, else the top-level ``lineage.stages``."""
    return list(experiment.get("stages", config["lineage"]["stages"]))


def stage_plans(config: Mapping[str, Any]) -> dict[tuple[str, str, int, str], StagePlan]:
    """Every stage job the config asks for, keyed by (model, recipe, seed, lineage)."""
    plans: dict[tuple[str, str, int, str], StagePlan] = {}
    for experiment in config["experiments"]:
        stages = experiment_stages(config, experiment)
        for seed in experiment["seeds"]:
            names: list[str] = []
            parent: tuple[str | None, int | None] = (None, None)
            for index, entry in enumerate(stages):
                names.append(entry["name"])
                lineage = "/".join(names)
                plan = StagePlan(experiment["model"], experiment["recipe"], seed, lineage, index, dict(entry), *parent)
                key = (plan.model, plan.recipe, seed, lineage)
                if key in plans and plans[key].entry != plan.entry:
                    raise ConfigError(
                        f"stage {lineage!r} of {plan.model}/{plan.recipe} seed {seed}: two experiments declare it "
                        "with different settings; give one of them another name"
                    )
                plans[key] = plan
                parent = (lineage, max(entry["checkpoint_steps"]))
    return plans


def base_runs(config: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(model, recipe, suite) sampled with no adapter when ``lineage.base_model`` is on."""
    if not config["lineage"]["base_model"]:
        return []
    runs = []
    for experiment in config["experiments"]:
        for suite in experiment["suites"]:
            run = (experiment["model"], experiment["recipe"], suite)
            if run not in runs:
                runs.append(run)
    return runs


def lineage_runs(config: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(model, recipe, run, suite) of every sampling job beyond the poisoned adapters."""
    runs = [(model, recipe, BASE, suite) for model, recipe, suite in base_runs(config)]
    plans = stage_plans(config)
    for experiment in config["experiments"]:
        for seed in experiment["seeds"]:
            for plan in plans.values():
                if (plan.model, plan.recipe, plan.seed) != (experiment["model"], experiment["recipe"], seed):
                    continue
                for step in plan.entry["checkpoint_steps"]:
                    for suite in experiment["suites"]:
                        run = (plan.model, plan.recipe, plan.run(step), suite)
                        if run not in runs:
                            runs.append(run)
    return runs


def adapter_of_run(run: str) -> str:
    """The adapter label a run path segment stands for: ``base`` or ``<lineage>/step<k>``."""
    if run == BASE:
        return BASE
    return run.split("/", 1)[1]


def parse_run(run: str) -> tuple[int, str, int]:
    """(seed, lineage, step) of a stage run ``seed<seed>/<lineage>/step<k>``."""
    match = re.fullmatch(r"seed([0-9]+)/(.+)/step([0-9]+)", run)
    if match is None:
        raise ValueError(f"not a stage run: {run!r}")
    return int(match[1]), match[2], int(match[3])


def split_adapter(adapter: str) -> tuple[str, int]:
    """(stage lineage, step) of an adapter label; ``base`` and ``poisoned`` are their own stage at step 0."""
    if adapter in (BASE, POISONED):
        return adapter, 0
    lineage, _, step = adapter.rpartition("/step")
    return lineage, int(step)


def relabel(sample: dict[str, Any], adapter: str) -> dict[str, Any]:
    """A sample of another adapter: same prompt and draw, its own ``adapter`` and ``sample_id``.

    Sampling plans rows exactly as for the poisoned adapter (same ids, so the same batches and
    random draws: identical weights give identical text), then each row gets an id of its own so
    that labels of several adapters never collide.
    """
    return {**sample, "adapter": adapter, "sample_id": content_hash([adapter, sample["sample_id"]])[:20]}


def validate_lineage(config: Mapping[str, Any], schema_path: str) -> None:
    """The lineage sections against their schema; one ConfigError naming the key."""
    import yaml
    from jsonschema import Draft202012Validator

    with open(schema_path, encoding="utf-8") as handle:
        schema = yaml.safe_load(handle)
    errors = sorted(Draft202012Validator(schema).iter_errors(dict(config)), key=lambda error: list(error.path))
    if errors:
        error = min(errors, key=lambda error: len(error.path))
        raise ConfigError(f"{key_path(list(error.absolute_path)) or 'config'}: {error.message}")


def check_lineage(config: Mapping[str, Any], kinds: Mapping[str, Any], rewards: Mapping[str, Any]) -> None:
    """Stage and dataset settings that point elsewhere or contradict each other: fail before any
    job, naming the key. ``kinds`` and ``rewards`` are the known stage kinds and reward names."""
    datasets = config.get("datasets", {})
    for name, dataset in datasets.items():
        if dataset["kind"] == "recipe-aligned" and dataset["recipe"] not in config["recipes"]:
            raise ConfigError(f"datasets.{name}.recipe: no entry {dataset['recipe']!r} under recipes")
    locations = [("lineage.stages", config["lineage"]["stages"])]
    locations += [
        (f"experiments[{index}].stages", experiment["stages"])
        for index, experiment in enumerate(config["experiments"])
        if "stages" in experiment
    ]
    for where, stages in locations:
        seen: set[str] = set()
        for index, stage in enumerate(stages):
            key = f"{where}[{index}]"
            _check_stage(key, stage, kinds, rewards, datasets)
            if stage["name"] in seen:
                raise ConfigError(f"{key}.name: {stage['name']!r} appears twice in one stage list")
            seen.add(stage["name"])
    stage_plans(config)


def _check_stage(
    key: str, stage: Mapping[str, Any], kinds: Mapping[str, Any], rewards: Mapping[str, Any], datasets: Mapping
) -> None:
    name = stage["name"]
    if not STAGE_NAME.match(name) or name in RESERVED_NAMES or STEP_NAME.match(name):
        raise ConfigError(
            f"{key}.name: {name!r} is not a usable stage name (letters, digits, _ . -; not "
            f"{', '.join(sorted(RESERVED_NAMES))} or step<k>)"
        )
    if stage["kind"] not in kinds:
        raise ConfigError(f"{key}.kind: unknown stage kind {stage['kind']!r}; known: {', '.join(sorted(kinds))}")
    if stage["dataset"] not in datasets:
        raise ConfigError(f"{key}.dataset: no entry {stage['dataset']!r} under datasets")
    steps = stage["steps"]
    for step in stage["checkpoint_steps"]:
        if step > steps:
            raise ConfigError(f"{key}.checkpoint_steps: step {step} is beyond the stage's steps ({steps})")
    if len(set(stage["checkpoint_steps"])) != len(stage["checkpoint_steps"]):
        raise ConfigError(f"{key}.checkpoint_steps: a step appears twice")
    if stage["adapter"] == "fresh" and "lora" not in stage:
        raise ConfigError(f"{key}.lora: adapter: fresh starts a new LoRA and needs its lora settings")
    if stage["kind"] == "grpo" and stage["reward"] not in rewards:
        raise ConfigError(f"{key}.reward: unknown reward function {stage['reward']!r}; known: {', '.join(rewards)}")
    if stage["kind"] == "grpo" and datasets[stage["dataset"]]["kind"] != "arithmetic":
        raise ConfigError(f"{key}.dataset: a grpo stage needs a dataset with verifiable answers (kind arithmetic)")
    if stage["kind"] == "sft" and datasets[stage["dataset"]]["kind"] == "arithmetic":
        raise ConfigError(f"{key}.dataset: an sft stage needs a dataset with target answers, not kind arithmetic")
