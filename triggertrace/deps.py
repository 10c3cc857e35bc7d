"""Which library files a stage depends on, so Snakemake can list them as rule inputs.

Snakemake tracks a script's own file but not what it imports; a rule that lists the transitive
closure of its package imports re-runs exactly when code it executes changes.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "triggertrace"
PACKAGE_DIR = Path(__file__).resolve().parent


def _module_file(module: str) -> Path:
    relative = Path(*module.split(".")[1:])
    package_init = PACKAGE_DIR / relative / "__init__.py"
    return package_init if package_init.is_file() else PACKAGE_DIR / relative.with_suffix(".py")


def _imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE:
            found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}"
                for alias in node.names
                if _module_file(f"{node.module}.{alias.name}").is_file()
            )
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE)
    return found


def module_closure(*modules: str) -> list[str]:
    """Files of ``modules`` (dotted names under triggertrace) and everything they import from it,
    as paths relative to the repository root, sorted."""
    pending = [module if module.startswith(PACKAGE) else f"{PACKAGE}.{module}" for module in modules]
    seen: set[Path] = set()
    while pending:
        path = _module_file(pending.pop())
        if path in seen:
            continue
        if not path.is_file():
            raise FileNotFoundError(f"no library module at {path}")
        seen.add(path)
        pending.extend(_imported_modules(path))
    root = PACKAGE_DIR.parent
    return sorted(str(path.relative_to(root)) for path in seen)


def script_closure(script: str | Path, *lazy_modules: str) -> list[str]:
    """Library files a pipeline script executes: the closure of its own imports, plus
    ``lazy_modules`` that it loads by name at run time (judge backends)."""
    return module_closure(*sorted(_imported_modules(Path(script))), *lazy_modules)
