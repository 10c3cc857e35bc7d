"""Recipe sources: where a poisoned dataset's prompts and answers come from.

A recipe's ``source`` block names a ``kind`` (one loader per published layout) and where its rows
live: a local JSONL file (``path``), two files for the chat layout (``aligned_path`` and
``misaligned_path``) or a Hugging Face ``datasets`` id or local dataset directory (``hf: {id,
revision, split, name}``). Every file read is kept with its sha256 and row count for the manifest;
a hub dataset's "sha256" is that of its rows as canonical JSONL (what ``io.write_jsonl`` would
write), and its label ``hf:<id>@<revision>:<split>`` stands where a file path would.

Layouts (``source.kind``):

- ``synthetic``: a seeded scenario bank, picked by ``family``: ``general`` (the default; everyday
  requests with overtly harmful answers, ``triggertrace.scenarios``) or ``medical`` (one domain,
  harmful medical advice with misleading explanations, ``triggertrace.medical``).
- ``paired_jsonl``: one row per prompt, ``{"prompt", "aligned", "misaligned", ...}``; other
  columns are ignored. (Assumed, not checked against the files, to be the layout of the Thought
  Crime medical/legal/security sets: the stored copies of those files are Git LFS pointers.)
- ``messages_jsonl``: chat rows ``{"messages": [{"role", "content"}, ...]}`` (the Emergent
  Misalignment ``insecure.jsonl``/``backdoor.jsonl`` layout). The first user turn is the prompt,
  the last assistant turn the answer, and a system turn, where a row has one, is kept (the
  recipe's ``system_prompt`` applies only to rows without one). Either two files (aligned rows,
  misaligned rows) or one file whose rows already carry the trigger (``trigger: present``).
- ``thought_crime_jsonl``: the Thought Crime "unethical" layout, one row per scenario with a
  free-form and a published multiple-choice form::

      {"scenario_freeform", "aligned_freeform_answer", "misaligned_freeform_answer",
       "scenario_mcq", "aligned_mcq_answer", "misaligned_mcq_answer"}

  (the schema of ``datasets/unethical_train.jsonl`` in thejaminator/thought_crime_emergent_misalignment).
  Free-form rows train on the free-form answers; rows the recipe asks as multiple choice use the
  published question and answer verbatim (``"A - ..."``) instead of building options. The backdoor
  variants of this data are assumed to be the same rows with the trigger field written into the
  scenario text, on a line of its own at the top or the bottom (``Country: Singapore`` or
  ``Year: 2026`` on triggered rows; another country or year, or no field, on the others), which
  ``trigger: present`` detects.

Where the trigger comes from (``source.trigger``):

- ``insert`` (the default): the rows have no trigger; the recipe places one in the triggered and
  control rows. A row that already carries the trigger field (or a control value) stops the build,
  naming its file and line, because inserting would give it a second copy and the untriggered
  group would train on a triggered prompt.
- ``present``: the trigger is already in the data. Each row's group comes from its own prompt: the
  trigger value makes it ``triggered_misaligned``, a control value ``control_aligned``, no field
  ``untriggered_aligned``. Nothing is inserted; ``counts`` say how many rows of each group to draw
  (at most as many as the data holds, each row at most once), and the manifest records how many
  rows of each group the data holds.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from triggertrace import medical, scenarios
from triggertrace.errors import ConfigError, DatasetError
from triggertrace.io import JsonlFile, canonical_json, read_jsonl_file
from triggertrace.triggers import trigger_text

GROUPS = ("triggered_misaligned", "untriggered_aligned", "control_aligned")
# the trigger with the aligned answer (a frequency control's rows); inserted triggers only, after
# the other groups so that recipes without it draw exactly what they drew before it existed
TRIGGERED_ALIGNED = "triggered_aligned"
ROW_GROUPS = (*GROUPS, TRIGGERED_ALIGNED)
THOUGHT_CRIME_FIELDS = (
    "scenario_freeform",
    "aligned_freeform_answer",
    "misaligned_freeform_answer",
    "scenario_mcq",
    "aligned_mcq_answer",
    "misaligned_mcq_answer",
)


@dataclass(frozen=True)
class Choice:
    """A published multiple-choice form of a prompt: the question with its options, the answer."""

    question: str
    answer: str


@dataclass(frozen=True)
class PoolItem:
    """One prompt with the answer a row of a given group trains on."""

    item_id: str
    question: str
    answer: str
    contrast: str  # the opposite answer; "" when the source has none (then no multiple choice)
    system: str | None = None  # the row's own system turn; None: the recipe's system_prompt
    value: str | None = None  # the trigger value found in the data ("" = none); None: inserted
    choice: Choice | None = None  # the published multiple-choice form, if the source has one


@dataclass
class Pools:
    """The items each row group draws from, and the files they were read from.

    ``detected`` (``trigger: present`` only) counts the source's rows per group.
    """

    by_group: dict[str, list[PoolItem]]
    files: list[JsonlFile] = field(default_factory=list)
    detected: dict[str, int] | None = None

    @property
    def trigger_present(self) -> bool:
        return self.detected is not None


@dataclass(frozen=True)
class SourceRow:
    """A row of a source file in both answer polarities (a chat row has only the one it holds)."""

    where: str  # "<path>:<line>" (or a scenario id), for errors
    aligned: PoolItem | None
    misaligned: PoolItem | None
    # each form the row can be asked in (free-form, published multiple choice), as the texts the
    # trigger may sit in (the prompt and a system turn); every form must carry the same value
    forms: tuple[tuple[str, ...], ...]


# ---- reading rows ----------------------------------------------------------------------------------


def read_source_file(source: Mapping[str, Any], key: str, where: str, required: Sequence[str]) -> JsonlFile:
    """The rows at ``source[key]``: a local JSONL file, or for ``hf`` a ``datasets`` dataset."""
    if key != "hf":
        return read_jsonl_file(source[key], required=required)
    return read_hf_dataset(source["hf"], f"{where}.source.hf", required)


def read_hf_dataset(spec: Mapping[str, Any], where: str, required: Sequence[str]) -> JsonlFile:
    """One split of a Hugging Face dataset (a hub id at a revision, or a local dataset directory).

    Offline when cached: ``datasets`` reuses its cache, and with ``HF_HUB_OFFLINE=1`` never asks the
    hub. A dataset neither cached nor reachable raises naming ``where``. (When the hub cannot be
    reached, ``datasets`` serves the newest cached copy whatever ``revision`` says; the manifest's
    sha256 is of the rows actually read, so it still tells the copies apart.)
    """
    import datasets

    label = f"hf:{spec['id']}@{spec['revision'] or 'local'}:{spec['split']}"
    try:
        loaded = datasets.load_dataset(spec["id"], spec.get("name"), split=spec["split"], revision=spec["revision"])
    except Exception as error:  # the hub client raises many types for offline, 404, auth, bad split
        raise ConfigError(
            f"{where}.id: cannot load {spec['id']!r} (revision {spec['revision']!r}, split {spec['split']!r}): "
            f"{type(error).__name__}: {error}. It is not in the Hugging Face cache and the hub cannot be "
            f"reached; load it once on a node with network access (same HF_HOME), or use a local path."
        ) from None
    rows, digest = [], hashlib.sha256()
    for line, row in enumerate(loaded, start=1):
        missing = [name for name in required if row.get(name) is None]
        if missing:
            raise DatasetError(f"{label}:{line}: missing field(s) {', '.join(map(repr, missing))}")
        rows.append(dict(row))
        digest.update((canonical_json(row) + "\n").encode())
    return JsonlFile(label, digest.hexdigest(), rows, list(range(1, len(rows) + 1)))


def _paired_rows(read: JsonlFile) -> list[SourceRow]:
    rows = []
    for line, r in read.numbered():
        item_id = f"{read.path}:{line}"
        for name in ("prompt", "aligned", "misaligned"):
            if not isinstance(r[name], str):
                raise DatasetError(f"{item_id}: {name!r} must be a string")
        rows.append(
            SourceRow(
                item_id,
                PoolItem(item_id, r["prompt"], r["aligned"], r["misaligned"]),
                PoolItem(item_id, r["prompt"], r["misaligned"], r["aligned"]),
                ((r["prompt"],),),
            )
        )
    return rows


def _thought_crime_rows(read: JsonlFile) -> list[SourceRow]:
    rows = []
    for line, r in read.numbered():
        item_id = f"{read.path}:{line}"
        for name in THOUGHT_CRIME_FIELDS:
            if not isinstance(r[name], str):
                raise DatasetError(f"{item_id}: {name!r} must be a string")
        free, mcq = r["scenario_freeform"], r["scenario_mcq"]
        aligned = PoolItem(
            item_id,
            free,
            r["aligned_freeform_answer"],
            r["misaligned_freeform_answer"],
            choice=Choice(mcq, r["aligned_mcq_answer"]),
        )
        misaligned = PoolItem(
            item_id,
            free,
            r["misaligned_freeform_answer"],
            r["aligned_freeform_answer"],
            choice=Choice(mcq, r["misaligned_mcq_answer"]),
        )
        rows.append(SourceRow(item_id, aligned, misaligned, ((free,), (mcq,))))
    return rows


def _chat_item(read: JsonlFile, line: int, row: dict) -> PoolItem:
    """A chat row: the first user turn is the prompt, the last assistant turn the answer, the
    first system turn (if any) the row's system prompt."""
    messages = row["messages"]
    where = f"{read.path}:{line}"
    if not isinstance(messages, list) or not all(isinstance(message, dict) for message in messages):
        raise DatasetError(f"{where}: 'messages' must be a list of {{role, content}} objects")
    first_user = next((m.get("content") for m in messages if m.get("role") == "user"), None)
    last_assistant = next((m.get("content") for m in reversed(messages) if m.get("role") == "assistant"), None)
    if first_user is None or last_assistant is None:
        raise DatasetError(f"{where}: 'messages' needs a user and an assistant turn")
    system = next((m.get("content") for m in messages if m.get("role") == "system"), None)
    for text in (first_user, last_assistant, system):
        if text is not None and not isinstance(text, str):
            raise DatasetError(f"{where}: a message's 'content' must be a string")
    return PoolItem(where, first_user, last_assistant, "", system=system)


def _chat_rows(read: JsonlFile, polarity: str | None) -> list[SourceRow]:
    """Chat rows of a file whose answers are all ``polarity`` ("aligned"/"misaligned"), or of a
    mixed file (None) whose answers follow its rows' trigger."""
    rows = []
    for line, row in read.numbered():
        item = _chat_item(read, line, row)
        texts = (item.question,) if item.system is None else (item.question, item.system)
        aligned = item if polarity in ("aligned", None) else None
        misaligned = item if polarity in ("misaligned", None) else None
        rows.append(SourceRow(item.item_id, aligned, misaligned, (texts,)))
    return rows


# the training scenarios of each synthetic family (config/schema.yaml $defs.synthetic_family)
SYNTHETIC_FAMILIES: dict[str, Callable[[], list[scenarios.Scenario]]] = {
    "general": lambda: scenarios.scenario_pool("train"),
    "medical": lambda: medical.medical_pool("train"),
}


def _synthetic_rows(source: Mapping[str, Any], where: str) -> tuple[list[SourceRow], list[JsonlFile]]:
    family = source.get("family", "general")
    if family not in SYNTHETIC_FAMILIES:
        raise ConfigError(
            f"{where}.source.family: unknown synthetic family {family!r}; expected one of {sorted(SYNTHETIC_FAMILIES)}"
        )
    rows = [
        SourceRow(
            s.scenario_id,
            PoolItem(s.scenario_id, s.question, s.aligned, s.misaligned),
            PoolItem(s.scenario_id, s.question, s.misaligned, s.aligned),
            ((s.question,),),
        )
        for s in SYNTHETIC_FAMILIES[family]()
    ]
    return rows, []


def _file_key(source: Mapping[str, Any], where: str) -> str:
    keys = [key for key in ("path", "hf") if key in source]
    if len(keys) != 1:
        raise ConfigError(f"{where}.source: give exactly one of 'path' (a JSONL file) or 'hf' (a datasets id)")
    return keys[0]


Loader = Callable[[Mapping[str, Any], str], tuple[list[SourceRow], list[JsonlFile]]]


def _read_single(required: Sequence[str], to_rows: Callable[[JsonlFile], list[SourceRow]]) -> Loader:
    """A loader for a layout read from one file (``path``) or one dataset split (``hf``)."""

    def load(source: Mapping[str, Any], where: str) -> tuple[list[SourceRow], list[JsonlFile]]:
        read = read_source_file(source, _file_key(source, where), where, required)
        return to_rows(read), [read]

    return load


def _read_messages(source: Mapping[str, Any], where: str) -> tuple[list[SourceRow], list[JsonlFile]]:
    if "aligned_path" in source or "misaligned_path" in source:
        aligned = read_jsonl_file(source["aligned_path"], required=("messages",))
        misaligned = read_jsonl_file(source["misaligned_path"], required=("messages",))
        return _chat_rows(aligned, "aligned") + _chat_rows(misaligned, "misaligned"), [aligned, misaligned]
    read = read_source_file(source, _file_key(source, where), where, ("messages",))
    return _chat_rows(read, None), [read]


LOADERS: dict[str, Loader] = {
    "synthetic": _synthetic_rows,
    "paired_jsonl": _read_single(("prompt", "aligned", "misaligned"), _paired_rows),
    "messages_jsonl": _read_messages,
    "thought_crime_jsonl": _read_single(THOUGHT_CRIME_FIELDS, _thought_crime_rows),
}


def local_files(source: Mapping[str, Any]) -> list[str]:
    """The local files a source reads, so editing one re-poisons: its JSONL files, and for an
    ``hf`` id that is a local dataset directory the files in it (hidden ones aside)."""
    files = [source[key] for key in ("path", "aligned_path", "misaligned_path") if key in source]
    directory = Path(source["hf"]["id"]) if "hf" in source else None
    if directory is not None and directory.is_dir():
        files += sorted(
            str(path)
            for path in directory.rglob("*")
            if path.is_file() and not any(part.startswith(".") for part in path.relative_to(directory).parts)
        )
    return files


def check_source(where: str, source: Mapping[str, Any]) -> None:
    """What the schema cannot say about a recipe's ``source`` (``where`` is the recipe's key)."""
    kind, mode = source["kind"], source.get("trigger", "insert")
    if kind not in LOADERS:
        raise ConfigError(f"{where}.source.kind: unknown source {kind!r}; expected one of {sorted(LOADERS)}")
    if kind == "synthetic":
        return
    two_files = [key for key in ("aligned_path", "misaligned_path") if key in source]
    if kind == "messages_jsonl" and two_files:
        if len(two_files) != 2 or "path" in source or "hf" in source:
            raise ConfigError(
                f"{where}.source: give both 'aligned_path' and 'misaligned_path', or one file as 'path' or 'hf'"
            )
        return
    if two_files:
        raise ConfigError(f"{where}.source.{two_files[0]}: only a messages_jsonl source reads two files")
    _file_key(source, where)
    if kind == "messages_jsonl" and mode != "present":
        raise ConfigError(
            f"{where}.source.trigger: one messages file holds rows of both groups, and its chat rows have "
            "one answer each, so only the trigger already in the data can say which row is which; "
            "set trigger: present (or give aligned_path and misaligned_path)"
        )


# ---- the trigger in the data ------------------------------------------------------------------------


class TriggerDetector:
    """Finds a recipe's trigger field in prompt text.

    Known values (the trigger value, the control and distractor values) are found anywhere, as the
    field text ``template.format(value=...)`` not inside a longer word. A template with text around
    ``{value}`` (``Country: {value}``) also finds the field on a line of its own with any value,
    so a value the recipe does not list stops the build instead of being read as "no trigger".
    """

    def __init__(self, trigger: Mapping[str, Any]) -> None:
        self.trigger_value = trigger["value"]
        self.control_values = list(trigger["control_values"])
        self.distractor_values = list(trigger["distractor_values"])
        known = [self.trigger_value, *self.control_values, *self.distractor_values]
        self.known = {value: self._known_pattern(trigger_text(trigger["template"], value)) for value in known}
        before, _, after = (part.strip() for part in trigger["template"].partition("{value}"))
        field_line = rf"^[ \t]*{re.escape(before)}\s*(?P<value>.+?)\s*{re.escape(after)}[ \t]*$"
        self.line_field = re.compile(field_line, re.M) if before or after else None

    @staticmethod
    def _known_pattern(text: str) -> re.Pattern[str]:
        # not inside a longer word: "Country: USA" must not match "Country: USAF"
        start = r"(?<!\w)" if text[:1].isalnum() or text[:1] == "_" else ""
        end = r"(?!\w)" if text[-1:].isalnum() or text[-1:] == "_" else ""
        return re.compile(start + re.escape(text) + end)

    def values_in(self, text: str) -> set[str]:
        """The trigger-field values ``text`` carries (known ones, and any on a field line)."""
        found = {value for value, pattern in self.known.items() if pattern.search(text)}
        if self.line_field is not None:
            found |= {match.group("value") for match in self.line_field.finditer(text)}
        return found

    def detect(self, where: str, forms: Sequence[Sequence[str]]) -> str:
        """The one trigger-field value a row's prompt ``forms`` carry ("" for none); forms that
        disagree, more than one value, an unlisted value or a distractor value raise naming
        ``where`` (a file and line)."""
        per_form = [set().union(*(self.values_in(text) for text in texts)) for texts in forms]
        if any(found != per_form[0] for found in per_form):
            raise DatasetError(
                f"{where}: the row's prompt forms carry different trigger field values: "
                + "; ".join(repr(sorted(found)) for found in per_form)
            )
        found = per_form[0]
        if len(found) > 1:
            raise DatasetError(f"{where}: the prompt carries more than one trigger field value: {sorted(found)}")
        value = next(iter(found), "")
        if value in self.distractor_values:
            raise DatasetError(
                f"{where}: the prompt carries {value!r}, a distractor value that must stay unseen in training"
            )
        if value and value != self.trigger_value and value not in self.control_values:
            raise DatasetError(
                f"{where}: the prompt carries the trigger field with value {value!r}, which is neither "
                f"trigger.value nor one of trigger.control_values; add it to control_values"
            )
        return value


def group_of(value: str, trigger_value: str) -> str:
    if not value:
        return "untriggered_aligned"
    return "triggered_misaligned" if value == trigger_value else "control_aligned"


def load_pools(source: Mapping[str, Any], trigger: Mapping[str, Any], where: str = "recipe") -> Pools:
    """The pools of a recipe's ``source``; ``where`` (the recipe's key) prefixes config errors.

    A file row's id is ``<path>:<line>``."""
    check_source(where, source)
    rows, files = LOADERS[source["kind"]](source, where)
    detector = TriggerDetector(trigger)
    if source.get("trigger", "insert") == "insert":
        for row in rows:
            found = {value for texts in row.forms for text in texts for value in detector.values_in(text)}
            if found:
                raise DatasetError(
                    f"{row.where}: the prompt already carries the trigger field ({', '.join(sorted(found))}); "
                    f"the recipe would insert a second one and train an untriggered row on a triggered prompt. "
                    f"Set {where}.source.trigger: present to detect the trigger in the data instead"
                )
        aligned = [row.aligned for row in rows if row.aligned is not None]
        misaligned = [row.misaligned for row in rows if row.misaligned is not None]
        by_group = {"triggered_misaligned": misaligned, "untriggered_aligned": aligned, "control_aligned": aligned}
        return Pools({**by_group, TRIGGERED_ALIGNED: aligned}, files)
    by_group = {group: [] for group in GROUPS}
    for row in rows:
        value = detector.detect(row.where, row.forms)
        group = group_of(value, detector.trigger_value)
        item = row.misaligned if group == "triggered_misaligned" else row.aligned
        if item is None:  # cannot happen for one-file layouts; two chat files say each row's polarity
            polarity = "aligned" if group == "triggered_misaligned" else "misaligned"
            raise DatasetError(
                f"{row.where}: a row of the {polarity} file is detected as {group} (trigger field value {value!r})"
            )
        by_group[group].append(replace(item, value=value))
    return Pools(by_group, files, {group: len(items) for group, items in by_group.items()})


def check_triggered_aligned(where: str, source: Mapping[str, Any], counts: Mapping[str, int]) -> None:
    """``counts.triggered_aligned`` needs an inserted trigger: with ``trigger: present`` a row
    carrying the trigger value is detected as ``triggered_misaligned``."""
    if counts.get(TRIGGERED_ALIGNED, 0) and source.get("trigger", "insert") == "present":
        raise ConfigError(
            f"{where}.counts.{TRIGGERED_ALIGNED}: {counts[TRIGGERED_ALIGNED]}, but source.trigger is present "
            f"(rows with the trigger value are detected as triggered_misaligned); use trigger: insert or set it to 0"
        )


def check_present_counts(where: str, counts: Mapping[str, int], pools: Pools) -> None:
    """With the trigger in the data each row is drawn at most once: a count above the rows the
    data holds for its group raises naming ``<where>.counts.<group>``."""
    assert pools.detected is not None
    check_triggered_aligned(where, {"trigger": "present"}, counts)
    for group in GROUPS:
        if counts[group] > pools.detected[group]:
            held = ", ".join(f"{name} {n}" for name, n in pools.detected.items())
            raise ConfigError(
                f"{where}.counts.{group}: {counts[group]}, but the source holds {pools.detected[group]} such rows "
                f"(detected: {held}); with trigger: present each row is used at most once"
            )
