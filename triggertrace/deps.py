"""The code a pipeline stage runs, reduced to one digest that rules pass as a ``params:`` entry.

Snakemake compares inputs by modification time, so listing library files as inputs re-ran every
rule after a ``touch``, ``git pull`` or ``git checkout``. A digest of the code's content re-runs a
job exactly when the code it executes changes: the script, every module of this package it imports
(transitively, including each parent package's ``__init__``), the modules it loads by name at run
time (judge kinds, backends) and any other file whose text it uses (a judge's prompt template).

Python files are digested by their tokens, so comments, blank lines, indentation width, quote
style and docstrings do not count; other files by their bytes. Paths enter the digest relative to
the repository root, so a clone in another directory gives the same digests. Every function is
cached: the DAG of thousands of jobs parses each file once.
"""

from __future__ import annotations

import ast
import hashlib
import io
import tokenize
from functools import cache
from pathlib import Path

PACKAGE = "triggertrace"

# Tokens that carry no meaning: comments, line breaks inside statements and blank lines.
_NOISE = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}
# Python >= 3.12 splits an f-string into several tokens; older versions give one STRING token.
_FSTRING_START = getattr(tokenize, "FSTRING_START", None)
_FSTRING_END = getattr(tokenize, "FSTRING_END", None)
_MARKERS = {tokenize.NEWLINE: "<NEWLINE>", tokenize.INDENT: "<INDENT>", tokenize.DEDENT: "<DEDENT>"}


def _module_file(root: Path, module: str) -> Path:
    """Where ``module`` of this package lives in the workflow directory ``root``."""
    relative = Path(*module.split("."))
    package_init = root / relative / "__init__.py"
    return package_init if package_init.is_file() else root / relative.with_suffix(".py")


def _with_parents(module: str) -> list[str]:
    """``a.b.c`` -> ``a``, ``a.b``, ``a.b.c``: importing a module runs each parent's ``__init__``."""
    parts = module.split(".")
    return [".".join(parts[: index + 1]) for index in range(len(parts))]


@cache
def _imported_modules(root: Path, path: Path) -> frozenset[str]:
    """Modules of this package that ``path`` imports anywhere (top level or inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE:
            found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}"
                for alias in node.names
                if _module_file(root, f"{node.module}.{alias.name}").is_file()
            )
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE)
    return frozenset(parent for module in found for parent in _with_parents(module))


@cache
def module_closure(root: Path, *modules: str) -> tuple[str, ...]:
    """Files of ``modules`` (dotted names, with or without the package prefix), their parent
    packages and everything they import from this package, relative to ``root``, sorted."""
    pending = [
        parent
        for module in modules
        for parent in _with_parents(module if module.startswith(PACKAGE) else f"{PACKAGE}.{module}")
    ]
    seen: set[Path] = set()
    while pending:
        path = _module_file(root, pending.pop())
        if path in seen:
            continue
        if not path.is_file():
            raise FileNotFoundError(f"no library module at {path}")
        seen.add(path)
        pending.extend(_imported_modules(root, path))
    return tuple(sorted(path.relative_to(root).as_posix() for path in seen))


def script_closure(root: str | Path, script: str, *lazy_modules: str) -> tuple[str, ...]:
    """Library files that ``script`` (relative to the workflow directory ``root``) executes: the
    closure of its own imports, plus ``lazy_modules`` that it loads by name at run time."""
    root = Path(root).resolve()
    return module_closure(root, *sorted(_imported_modules(root, root / script)), *lazy_modules)


def _string_value(text: str) -> str:
    """A string literal by its value, so ``'a'`` and ``"a"`` agree; f-strings by their text."""
    try:
        return repr(ast.literal_eval(text))
    except (ValueError, SyntaxError):
        return text


def _source_slice(lines: list[str], start: tuple[int, int], end: tuple[int, int]) -> str:
    (first_row, first_col), (last_row, last_col) = start, end
    if first_row == last_row:
        return lines[first_row - 1][first_col:last_col]
    middle = lines[first_row : last_row - 1]
    return "".join([lines[first_row - 1][first_col:], *middle, lines[last_row - 1][:last_col]])


def significant_tokens(source: str) -> list[str]:
    """The tokens of Python ``source`` that change what it does.

    Dropped: comments, blank lines and line breaks inside brackets, indentation width (blocks keep
    an INDENT/DEDENT marker), and statements that are only a string literal (docstrings: a no-op
    unless ``__doc__`` is read, which this package never does).
    """
    lines = source.splitlines(keepends=True)
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    kept: list[str] = []
    statement: list[tuple[int, str]] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if token.type in _NOISE:
            continue
        if token.type == _FSTRING_START:
            depth = 1
            while depth:
                depth += {_FSTRING_START: 1, _FSTRING_END: -1}.get(tokens[index].type, 0)
                index += 1
            statement.append((tokenize.STRING, _source_slice(lines, token.start, tokens[index - 1].end)))
        elif token.type == tokenize.STRING:
            statement.append((tokenize.STRING, _string_value(token.string)))
        elif token.type in _MARKERS:
            if token.type == tokenize.NEWLINE and all(kind == tokenize.STRING for kind, _ in statement):
                statement = []  # a bare string statement (a docstring), or an empty one
                continue
            kept.extend(text for _, text in statement)
            kept.append(_MARKERS[token.type])
            statement = []
        else:
            statement.append((token.type, token.string))
    kept.extend(text for _, text in statement)
    return kept


@cache
def file_digest(path: Path) -> str:
    """sha256 of a Python file's significant tokens, or of any other file's bytes."""
    if path.suffix != ".py":
        return hashlib.sha256(path.read_bytes()).hexdigest()
    try:
        tokens = significant_tokens(path.read_text(encoding="utf-8"))
    except (tokenize.TokenError, SyntaxError) as error:
        raise SyntaxError(f"{path}: cannot tokenize: {error}") from error
    return hashlib.sha256("\0".join(tokens).encode()).hexdigest()


@cache
def code_digest(root: str | Path, script: str, *lazy_modules: str, extra_files: tuple[str, ...] = ()) -> str:
    """One digest of everything ``script`` runs: itself and its library closure (both relative to
    the workflow directory ``root``), ``lazy_modules``, and ``extra_files`` (as the job opens them:
    relative to the working directory)."""
    root = Path(root).resolve()
    files = {name: root / name for name in (script, *script_closure(root, script, *lazy_modules))}
    files.update((name, Path(name)) for name in extra_files)
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"{name}\0{file_digest(files[name].resolve())}\n".encode())
    return digest.hexdigest()
