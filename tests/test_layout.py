"""The package's layout: one sub-package per job, each saying what it is, and no import cycle."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from tests.common import ROOT

PACKAGE = ROOT / "pipeline"
#: the jobs the product exists for, and the entry point each sub-package's docstring names
JOBS = {
    "streaming": "run_stream.py",
    "batch": "tools/batch.py",
    "deploy": "build_engine.py",
    "training": "tools/train.py",
    "sample": "tools/make_sample.py",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of the package that ``name`` imports, at top level or inside functions."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # "from . import x" may import a sub-module x
            targets = [mod] + [f"{mod}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in known)
    found.discard(name)
    return found


def test_no_import_cycle_between_modules() -> None:
    """No two modules of the package import each other, directly or around a loop.

    A package's ``__init__`` importing its own sub-modules (the registries) is not a cycle
    unless one of those sub-modules imports a module that leads back.
    """
    modules = _modules()
    known = set(modules)
    graph = {name: _imports(name, path, known) for name, path in modules.items()}
    # a sub-module importing its package's __init__ only to reach a sibling (the registry
    # pattern) is what Python's import system resolves; count only module -> module edges
    for name in graph:
        graph[name] = {t for t in graph[name]
                       if not (modules[t].name == "__init__.py" and name.startswith(t + "."))}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                cycles.append(sorted(scc))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize("job", sorted(JOBS))
def test_each_job_has_a_documented_sub_package(job: str) -> None:
    init = PACKAGE / job / "__init__.py"
    assert init.is_file(), f"pipeline/{job}/ is not a package"
    doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
    assert doc, f"pipeline/{job}/__init__.py has no docstring"
    assert JOBS[job] in doc, f"pipeline/{job}'s docstring does not name {JOBS[job]}"
    assert (ROOT / JOBS[job]).is_file()


def test_top_level_holds_only_shared_parts() -> None:
    """The flat list a newcomer sees: shared modules only; every job is a folder."""
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    assert top == ["config", "errors", "interrupts", "logs", "media", "registry"], top


@pytest.mark.parametrize("target", [
    "pipeline.streaming.cli:main", "pipeline.deploy.cli:main", "pipeline.training.trainer:main",
    "pipeline.training.evaluate:main", "pipeline.batch.cli:main", "pipeline.sample:main",
    "pipeline.enhancers:build_enhancer", "pipeline.models:create_model",
])
def test_public_entry_points_import(target: str) -> None:
    module, _, attr = target.partition(":")
    assert callable(getattr(importlib.import_module(module), attr))


def test_console_scripts_point_at_existing_functions() -> None:
    text = (ROOT / "setup.cfg").read_text(encoding="utf-8")
    section = text.split("console_scripts =", 1)[1].split("\n[", 1)[0]
    scripts = dict(line.strip().split(" = ") for line in section.strip().splitlines())
    assert len(scripts) == 5
    for target in scripts.values():
        test_public_entry_points_import(target)
