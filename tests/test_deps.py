"""Code digests: what counts as a change to the code a rule runs, and what does not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import REPO

from triggertrace.deps import code_digest, file_digest, script_closure, significant_tokens

SOURCE = '''"""Module docstring."""

import os


def area(width, height):
    """Docstring."""
    return width * height  # why: a comment
'''


@pytest.mark.parametrize(
    "same",
    [
        SOURCE.replace("# why: a comment", "# another comment"),
        "# a header comment\n\n\n" + SOURCE + "\n\n# trailing\n",
        SOURCE.replace('"""Docstring."""', "'''A different docstring.'''"),
        SOURCE.replace('"""Module docstring."""\n', ""),
        SOURCE.replace("    ", "  "),
        SOURCE.replace("return width * height", "return width * \\\n        height"),
        SOURCE.replace("def area(width, height):", "def area(\n    width,\n    height\n):"),
    ],
    ids=["comment", "blank-lines", "docstring", "no-docstring", "indent-width", "continuation", "wrapped"],
)
def test_layout_comments_and_docstrings_do_not_count(same):
    assert significant_tokens(same) == significant_tokens(SOURCE)


@pytest.mark.parametrize(
    "changed",
    [
        SOURCE.replace("width * height", "width + height"),
        SOURCE.replace("import os", "import sys"),
        SOURCE + "\nLIMIT = 3\n",
        SOURCE.replace("    return width * height", "    if width:\n        return width * height"),
        SOURCE.replace("return width * height", "return f'{width}' * height"),
    ],
    ids=["operator", "import", "new-statement", "block", "f-string"],
)
def test_every_real_change_counts(changed):
    assert significant_tokens(changed) != significant_tokens(SOURCE)


def test_string_literals_count_by_value_not_quote_style():
    assert significant_tokens("x = 'a'\n") == significant_tokens('x = "a"\n')
    assert significant_tokens("x = 'a'\n") != significant_tokens("x = 'b'\n")
    assert significant_tokens("x = f'{a}'\n") != significant_tokens("x = f'{b}'\n")


def test_closure_has_parent_packages_and_modules_loaded_by_name():
    plain = script_closure(REPO, "scripts/label_samples.py")
    lexicon = script_closure(REPO, "scripts/label_samples.py", "triggertrace.judges.lexicon")
    llm = script_closure(REPO, "scripts/label_samples.py", "triggertrace.judges.llm", "triggertrace.judges.llm_local")
    assert {"triggertrace/__init__.py", "triggertrace/judges/__init__.py", "triggertrace/logs.py"} <= set(plain)
    assert set(lexicon) - set(plain) >= {"triggertrace/judges/lexicon.py"}
    assert "triggertrace/judges/llm.py" not in lexicon and "triggertrace/judges/lexicon.py" not in llm
    assert "triggertrace/train.py" in script_closure(REPO, "scripts/train_adapter.py")
    assert "triggertrace/train.py" not in script_closure(REPO, "scripts/sample_suite.py")


def forget_digests() -> None:
    """Digests are cached per process (one parse per file per DAG); a test that edits files clears them."""
    code_digest.cache_clear()
    file_digest.cache_clear()


def copy_code(destination: Path) -> Path:
    for name in ("scripts", "triggertrace"):
        shutil.copytree(REPO / name, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def test_digest_is_the_same_in_another_directory_and_changes_with_imported_code(tmp_path):
    first, second = copy_code(tmp_path / "a"), copy_code(tmp_path / "b")
    assert code_digest(first, "scripts/train_adapter.py") == code_digest(second, "scripts/train_adapter.py")
    train = second / "triggertrace" / "train.py"
    train.write_text(train.read_text() + "\nEDITED = True\n")
    forget_digests()
    assert code_digest(first, "scripts/train_adapter.py") != code_digest(second, "scripts/train_adapter.py")
    assert code_digest(first, "scripts/sample_suite.py") == code_digest(second, "scripts/sample_suite.py")


def test_extra_files_count_by_bytes(tmp_path, monkeypatch):
    root = copy_code(tmp_path / "a")
    monkeypatch.chdir(root)
    Path("prompt.jinja").write_text("Rate this.\n")
    before = code_digest(root, "scripts/label_samples.py", extra_files=("prompt.jinja",))
    Path("prompt.jinja").write_text("Rate this. \n")
    forget_digests()
    assert code_digest(root, "scripts/label_samples.py", extra_files=("prompt.jinja",)) != before
