"""The envs package imports in one direction: base <- task modules <- registry <- package."""

from __future__ import annotations

import ast
from pathlib import Path

import mimetic

SRC = Path(mimetic.__file__).parent  # src/mimetic


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.Module, known: set[str], *, functions: bool) -> set[str]:
    """Modules of src/mimetic a module imports: at top level (module body, its ifs and trys;
    ``if TYPE_CHECKING:`` blocks excluded), and with ``functions`` also inside functions and classes."""
    out: set[str] = set()
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop()
        if functions and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stack += [n for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))]
        elif isinstance(node, ast.If):
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                stack += node.body + node.orelse
        elif isinstance(node, ast.Try):
            stack += node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body]
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:  # `from pkg import sub` imports the submodule pkg.sub
                sub = f"{node.module}.{a.name}"
                out.add(sub if sub in known else node.module)
    return {m for m in out if m in known}


def import_graph(*, functions: bool = False) -> dict[str, set[str]]:
    files = {_module_name(p): p for p in SRC.rglob("*.py")}
    return {name: _imports(ast.parse(p.read_text()), set(files), functions=functions) for name, p in files.items()}


def find_cycle(graph: dict[str, set[str]], nodes: set[str]) -> list[str] | None:
    """One import cycle among ``nodes`` (as a path that returns to its start), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    path: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        path.append(n)
        for m in sorted(graph[n] & nodes):
            if state.get(m) == 1:
                return path[path.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        path.pop()
        state[n] = 2
        return None

    for n in sorted(nodes):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_no_import_cycle_inside_envs() -> None:
    # function-level imports count too: none may be a cycle dodged by importing late
    graph = import_graph(functions=True)
    envs = {n for n in graph if n.startswith("mimetic.envs.")}  # the package __init__ re-exports only
    assert find_cycle(graph, envs) is None
    assert graph["mimetic.envs.base"] & envs == set()  # base stands alone
    for task in ("cartpole", "pendulum", "lunarlander", "driving", "multimodal"):
        deps = graph[f"mimetic.envs.{task}"] & envs
        assert deps <= {"mimetic.envs.base", "mimetic.envs.gym_adapter"}, (task, deps)
    assert "mimetic.envs.registry" not in set().union(*(graph[n] for n in envs))  # nothing in envs needs it


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph, set(graph)) == ["a", "b", "c", "a"]
    assert find_cycle(graph, {"a", "b", "d"}) is None
