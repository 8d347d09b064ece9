"""The package layout is a contract (docs/ARCHITECTURE.md); these tests keep it true.

Read from the source with ``ast`` (nothing is imported): which labkit module imports which at
module level (imports under ``if TYPE_CHECKING:`` are for annotations only and do not count),
which imports sit inside functions, and how long each module is.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest
import layout

PACKAGE = layout.PACKAGE

# The pure core: standard library only, never the engines, the lessons or any front end.
CORE = ("values", "errors", "formatting", "fs", "oci", "build", "sim", "analysis")
OUTER = ("engine", "daemon", "lessons", "exercises", "grading", "cli", "ui")
# Third-party modules that are slow or optional: imported inside the functions that need them.
LAZY = ("docker", "ipywidgets", "graphviz", "nbclient", "nbformat", "IPython", "ipykernel")
MAX_LINES = 1000
MAX_TOP_MODULES = 8


@dataclass(frozen=True)
class Imp:
    source: str            # importing module, e.g. "labkit.fs.overlay"
    target: str            # imported module (a labkit module, or the top name of another)
    line: int
    in_function: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            ids.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return ids


def imports_of(name: str) -> list[Imp]:
    path = MODULES[name]
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    skip = _type_checking_blocks(tree)
    in_func: set[int] = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_func.update(id(n) for n in ast.walk(fn) if n is not fn)
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_pkg else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # ``from pkg import sub`` imports the submodule
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod for a in node.names]
        else:
            continue
        for t in dict.fromkeys(targets):
            out.append(Imp(name, t, node.lineno, id(node) in in_func))
    return out


ALL_IMPORTS = [imp for name in MODULES for imp in imports_of(name)]


def package_of(module: str) -> str:
    """``labkit.fs.overlay`` -> ``fs``; a top-level module is its own package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def runtime_edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in ALL_IMPORTS:
        if not imp.in_function and imp.target in MODULES and imp.target != imp.source:
            graph[imp.source].add(imp.target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on_stack.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_modules():
    assert cycles(runtime_edges()) == []


def test_no_import_cycle_between_packages():
    graph: dict[str, set[str]] = {}
    for src, targets in runtime_edges().items():
        a = package_of(src)
        graph.setdefault(a, set()).update(b for b in map(package_of, targets) if b != a and b)
    assert cycles(graph) == []


def test_the_core_never_imports_engines_lessons_or_front_ends():
    wrong = [f"{imp.source} (line {imp.line}) imports {imp.target}" for imp in ALL_IMPORTS
             if package_of(imp.source) in CORE and imp.target.startswith("labkit.")
             and package_of(imp.target) in OUTER]
    assert wrong == []


def test_the_core_uses_the_standard_library_only():
    third_party = {"docker", "ipywidgets", "graphviz", "nbclient", "nbformat", "IPython",
                   "ipykernel", "zstandard", "requests", "jupyterlab"}
    wrong = [f"{imp.source} (line {imp.line}) imports {imp.target}" for imp in ALL_IMPORTS
             if package_of(imp.source) in CORE and imp.target.split(".")[0] in third_party
             and not (imp.target == "zstandard" and imp.in_function)]   # optional codec
    assert wrong == []


def test_labkit_modules_are_imported_at_module_level_and_heavy_ones_lazily():
    inner = [f"{imp.source} (line {imp.line}) imports {imp.target} inside a function"
             for imp in ALL_IMPORTS if imp.in_function and imp.target.startswith("labkit")]
    eager = [f"{imp.source} (line {imp.line}) imports {imp.target} at module level"
             for imp in ALL_IMPORTS if not imp.in_function and imp.target.split(".")[0] in LAZY]
    assert inner == [] and eager == []


def test_exercises_do_not_depend_on_the_grader():
    wrong = [f"{imp.source} imports {imp.target}" for imp in ALL_IMPORTS
             if package_of(imp.source) == "exercises" and package_of(imp.target) == "grading"]
    assert wrong == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_the_line_limit(name):
    lines = MODULES[name].read_text().count("\n")
    assert lines <= MAX_LINES, f"{name} has {lines} lines: split it by job"


def test_the_top_level_holds_packages_and_a_few_modules():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, top


def test_subpackage_inits_hold_a_contract_not_code():
    """Each package's ``__init__`` states its contract in its docstring and may re-export
    names (eagerly, or lazily through ``_EXPORTS`` and ``__getattr__``); no other functions,
    classes or logic live there."""
    wrong = []
    for name, path in MODULES.items():
        if path.name != "__init__.py" or name == "labkit":
            continue
        tree = ast.parse(path.read_text())
        doc = ast.get_docstring(tree)
        if not doc or len(doc.split()) < 8:
            wrong.append(f"{name}: no contract in its docstring")
        for node in tree.body[1:]:
            reexport = (isinstance(node, (ast.Import, ast.ImportFrom))
                        or isinstance(node, (ast.Assign, ast.AnnAssign)) and ast.unparse(
                            node.targets[0] if isinstance(node, ast.Assign) else node.target)
                        in ("__all__", "_EXPORTS")
                        or isinstance(node, ast.FunctionDef) and node.name in ("__getattr__", "__dir__"))
            if not reexport:
                wrong.append(f"{name}: line {node.lineno} is code")
    assert wrong == []
