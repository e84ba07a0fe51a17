"""The shape of the package: imports flow one way, with no cycle, even through lazy imports."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "envctl"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Every envctl module and the envctl modules it imports, at any depth (lazy ones too)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            found |= {t for t in targets if t in modules and t not in (name, "envctl")}
        graph[name] = {t for t in found if not name.startswith(t + ".")}  # a package's own __init__
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle() -> None:
    """No two envctl modules import each other, directly or around a loop."""
    assert cycles(imports()) == []


def test_layers_import_downwards_only() -> None:
    """runs/ and report/ know no terminal; report/ knows no runs; env/ knows no runs."""
    graph = imports()
    for name, targets in graph.items():
        if name.startswith(("envctl.runs", "envctl.report", "envctl.env", "envctl.docker")):
            assert not {t for t in targets if t.startswith(("envctl.ui", "envctl.cli", "envctl.verbs"))}, name
        if name.startswith("envctl.report"):
            assert not {t for t in targets if t.startswith("envctl.runs")}, name
        if name.startswith("envctl.env"):
            assert not {t for t in targets if t.startswith(("envctl.runs", "envctl.api"))}, name


def test_screens_never_reach_the_engine() -> None:
    """envctl.cli and envctl.ui.* go through the verbs: none imports envctl.docker, even lazily."""
    graph = imports()
    screens = {name for name in graph if name == "envctl.cli" or name.startswith("envctl.ui")}
    assert {name: sorted(t for t in graph[name] if t.startswith("envctl.docker"))
            for name in screens if any(t.startswith("envctl.docker") for t in graph[name])} == {}


def test_verbs_know_no_face() -> None:
    """The verbs import nothing of the CLI and, of ui/, only the value models (views, report)."""
    graph = imports()
    for name, targets in graph.items():
        if name.startswith("envctl.verbs"):
            assert not {t for t in targets if t == "envctl.cli" or (
                t.startswith("envctl.ui") and t not in ("envctl.ui.views", "envctl.ui.report"))}, name


def test_the_host_never_imports_the_plugin() -> None:
    """The plugin is mounted into the test container: the host imports nothing of it."""
    graph = imports()
    host = {name for name in graph if not name.startswith("envctl.pytest_plugin")}
    assert {name: sorted(t for t in graph[name] if t.startswith("envctl.pytest_plugin"))
            for name in host if any(t.startswith("envctl.pytest_plugin") for t in graph[name])} == {}


def test_the_plugin_imports_only_the_standard_library() -> None:
    """Inside the container only the standard library (and the plugin's own modules) exist."""
    own = {path.stem for path in (PACKAGE / "pytest_plugin").glob("*.py")}  # siblings on its path
    allowed = set(sys.stdlib_module_names) | own | {"pytest", "_pytest", "__future__"}
    found: dict[str, set[str]] = {}
    for path in (PACKAGE / "pytest_plugin").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                tops = {node.module}
            elif isinstance(node, ast.Import):
                tops = {alias.name for alias in node.names}
            else:
                continue
            outside = {t for t in tops if t.split(".")[0] not in allowed
                       and not t.startswith("envctl.pytest_plugin")}
            if outside:
                found.setdefault(path.name, set()).update(outside)
    assert found == {}


def test_only_the_docker_package_imports_docker() -> None:
    """python_on_whales and the docker SDK are imported under envctl/docker/ only."""
    pattern = re.compile(r"^\s*(import|from)\s+(docker|python_on_whales)\b", re.MULTILINE)
    outside = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
               if "docker" not in p.relative_to(PACKAGE).parts[:1]
               and pattern.search(p.read_text(encoding="utf-8"))]
    assert outside == []


def test_run_json_is_written_by_the_lifecycle_only() -> None:
    """One writer per record: only runs/lifecycle.py writes RECORD_FILE."""
    writers = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
               if re.search(r"RECORD_FILE[^\n]*(write|save)|(write|save)[^\n]*RECORD_FILE",
                            p.read_text(encoding="utf-8"))]
    assert writers == ["runs/lifecycle.py"]
    savers = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
              if re.search(r"\bsave\(run_dir", p.read_text(encoding="utf-8"))]
    assert savers == ["runs/lifecycle.py"]
