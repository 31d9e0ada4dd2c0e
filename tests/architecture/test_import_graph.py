"""The layers import downward only, and no module imports itself through a cycle.

Every `import` counts, including those inside functions: a lazy import dodges an import-time
cycle but not a design one.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Bottom first. A package may import its own modules and any package of a lower rank.
LAYERS: dict[str, int] = {
    "lifecycle": 0,  # pure rules
    "config": 1,  # settings, school config files
    "intake": 2,  # feed parsing (pure, no database)
    "models": 3,  # tables, engine/session factory, migrations
    "notifications": 4,  # digests, rendering, Apprise, signed links
    "services": 5,  # use cases: intake, planning, sweep, actions, report
    "tasks": 6,  # Prefect tasks, one side effect each
    "web": 7,  # staff app and webhook
    "flows": 7,  # Prefect flows
    "deployments": 8,  # what is served
    "ilp": 9,  # the command line
}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """Project modules `path` imports (resolved to the longest known module name)."""
    targets: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        wanted: list[str] = []
        if isinstance(node, ast.Import):
            wanted = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            wanted = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in wanted:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                targets.add(target)
    return targets


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, name, modules) for name, path in modules.items()}


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for source, targets in graph.items():
        for target in targets:
            a, b = source.split(".")[0], target.split(".")[0]
            if a != b and LAYERS[b] >= LAYERS[a]:
                bad.append(f"{source} -> {target}")
    return sorted(bad)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_package_is_in_a_layer() -> None:
    top = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name != "tests"}
    assert top == set(LAYERS)


def test_no_upward_imports() -> None:
    assert upward_imports(import_graph()) == []


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_the_checks_can_fail() -> None:
    graph = {"models.db": {"services.sweep"}, "services.sweep": {"models.db"}}
    assert upward_imports(graph) == ["models.db -> services.sweep"]
    assert cycles(graph) == [["models.db", "services.sweep"]]


def test_the_pure_core_imports_no_framework() -> None:
    banned = ("prefect", "sqlalchemy", "sqlmodel", "apprise", "fastapi", "httpx")
    for path in (ROOT / "lifecycle").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for imported in names:
                assert imported.split(".")[0] not in banned, f"{path.name} imports {imported}"


if __name__ == "__main__":
    graph = import_graph()
    print("upward imports:", len(upward_imports(graph)))
    for line in upward_imports(graph):
        print("  ", line)
    print("cycles:", len(cycles(graph)))
    for component in cycles(graph):
        print("  ", " <-> ".join(component))
