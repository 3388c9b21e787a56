"""The package's shape: no import cycles, no oversized modules, the layers contract holds.

The import graph is read from the source (every ``import`` statement, those inside functions
included, ``if TYPE_CHECKING:`` blocks excepted), so an import hidden in a function cannot hide a
cycle either."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "promptops"
MAX_LINES = 450

# Third-party libraries that take a noticeable share of a second (or much more) to import. A
# promptops module that imports one at its top is an adapter of it; only such modules may be
# imported inside a function, so that `promptops --help` and a cached eval never pay for them.
HEAVY = {"litellm", "torch", "transformers", "peft", "accelerate", "sqlalchemy", "sqlmodel", "alembic",
         "fastapi", "starlette", "uvicorn", "git", "httpx", "ray", "openai", "numpy", "playwright"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if "migrations" in parts:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _third_party_at_top(path: Path) -> set[str]:
    """Top-level names of the libraries a module imports outside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.Import):
                names.update(alias.name.split(".")[0] for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and not child.level and child.module:
                names.add(child.module.split(".")[0])
            visit(child)

    visit(tree)
    return names


def _imports(module: str, path: Path) -> list[tuple[str, bool, int]]:
    """(imported promptops module, whether the import is inside a function, line) for one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, bool, int]] = []

    def target(name: str) -> str | None:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        return name or None

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for orelse in child.orelse:
                    visit(orelse, in_function)
                continue
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == "promptops" and (t := target(alias.name)):
                        found.append((t, inner, child.lineno))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    origin = ".".join(base + ([child.module] if child.module else []))
                else:
                    origin = child.module or ""
                if origin.split(".")[0] != "promptops":
                    continue
                for alias in child.names:
                    sub = f"{origin}.{alias.name}"
                    t = sub if sub in MODULES else target(origin)
                    if t:
                        found.append((t, inner, child.lineno))
            visit(child, inner)

    visit(tree, False)
    return [(t, inner, line) for t, inner, line in found if t != module]


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _command_modules() -> list[tuple[str, bool, int]]:
    """The CLI imports its command modules by name from a table (click's lazy group): the same
    edges as imports inside a function."""
    from promptops.cli import main

    return [(f"promptops.cli.{module}", True, 0) for module in sorted({m for m, _ in main.COMMANDS.values()})]


GRAPH["promptops.cli.main"] += _command_modules()


def _heavy_modules() -> dict[str, str]:
    """promptops module -> the heavy library its import loads (at its top, through a promptops
    module it imports at its top, or through its parent packages)."""
    heavy = {m: sorted(_third_party_at_top(p) & HEAVY)[0] for m, p in MODULES.items()
             if _third_party_at_top(p) & HEAVY}
    changed = True
    while changed:
        changed = False
        for m in MODULES:
            if m in heavy:
                continue
            parents = [".".join(m.split(".")[:i]) for i in range(1, m.count(".") + 1)]
            for t in [t for t, inner, _ in GRAPH[m] if not inner] + parents:
                if t in heavy and t != m:
                    heavy[m] = heavy[t]
                    changed = True
                    break
    return heavy


HEAVY_MODULES = _heavy_modules()


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    edges = {m: {t for t, _, _ in imports if not m.startswith(t + ".")} for m, imports in GRAPH.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            strong(module)
    return out


def test_the_graph_reader_sees_imports_inside_functions() -> None:
    # the reader itself: the CLI's entry point loads its commands, so the graph must have those edges
    assert {"promptops.cli.eval_cmd", "promptops.cli.session"} <= {t for t, _, _ in GRAPH["promptops.cli.main"]}
    assert ("promptops.providers.local", True) in {(t, inner) for t, inner, _ in GRAPH["promptops.providers.litellm"]}
    assert sum(len(v) for v in GRAPH.values()) > 100


def test_no_import_cycle_among_promptops_modules() -> None:
    # a package importing its own submodules (re-exports) is not a cycle; anything else is
    assert _cycles() == []


def test_internal_modules_are_imported_at_the_top() -> None:
    # an import inside a function is kept only where it defers a heavy library (the module is
    # that library's adapter, or leads to one); any other would only hide the graph
    hidden = sorted(f"{MODULES[m].relative_to(ROOT)}:{line} imports {t}"
                    for m, imports in GRAPH.items() for t, inner, line in imports
                    if inner and line and t not in HEAVY_MODULES)
    assert hidden == []


def test_the_commands_and_the_root_package_import_no_heavy_library() -> None:
    # what `promptops --help` and `import promptops` load: their cost is the start-up figure
    for module in ("promptops", "promptops.cli.main", "promptops.config", "promptops.prompts",
                   "promptops.eval.runner", "promptops.store", "promptops.providers", "promptops.history"):
        assert module not in HEAVY_MODULES, (module, HEAVY_MODULES.get(module))


def test_no_module_over_the_size_limit() -> None:
    big = {str(p.relative_to(ROOT)): n for p in MODULES.values()
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert big == {}


def test_the_layers_contract_holds() -> None:
    importlinter = pytest.importorskip("importlinter")
    from importlinter import cli

    del importlinter
    assert cli.lint_imports(config_filename=str(ROOT / "pyproject.toml")) == 0
