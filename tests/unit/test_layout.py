"""The shape of the code: imports point one way (no cycles, function-level imports included), no
module fills another module's list or dict when it is imported (which checks run, and in which
order, must not depend on import order), and every module imports on its own."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[2] / "provider"
PACKAGE = SOURCE_ROOT / "keyplane"

# methods that put something into a container
_MUTATORS = {"append", "extend", "insert", "add", "update", "setdefault", "register", "__setitem__"}


def _modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(SOURCE_ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        found[".".join(parts)] = (path, is_package)
    return found


MODULES = _modules()


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.AST):
    """Every import statement, at any depth (a function-level import is an edge too), except
    those under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if _is_type_checking(node):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _edges(module: str) -> set[str]:
    path, is_package = MODULES[module]
    base = module if is_package else module.rpartition(".")[0]
    out = set()
    for node in _imports(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            if node.level:
                parent = base
                for _ in range(node.level - 1):
                    parent = parent.rpartition(".")[0]
                origin = parent + ("." + node.module if node.module else "")
            else:
                origin = node.module or ""
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod
            targets = [origin + "." + a.name if origin + "." + a.name in MODULES else origin for a in node.names]
        out.update(t for t in map(_resolve, targets) if t)
    out.discard(module)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
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
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_keyplane_has_no_import_cycles():
    graph = {m: _edges(m) for m in MODULES}
    cycles = _cycles(graph)
    detail = [" <-> ".join(c) + ": " + "; ".join(f"{m} -> {sorted(graph[m] & set(c))}" for m in c)
              for c in cycles]
    assert not cycles, "import cycles:\n" + "\n".join(detail)


def _module_level(body):
    """Statements that run when the module is imported (not inside functions or classes)."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            yield from _module_level(getattr(node, field, []) or [])


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _registrations(tree: ast.Module) -> list[str]:
    """Module-level statements that change an object this module imported: `other.HOOKS.append(f)`,
    `other.TABLE["x"] = f`, `other.setting = f`, `register(...)` on an imported registry."""
    imported = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imported.update((a.asname or a.name).split(".")[0] for a in node.names)
    found = set()
    for node in _module_level(tree.body):
        targets = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, (ast.Attribute, ast.Subscript)) and _root_name(t) in imported:
                    found.add((node.lineno, ast.unparse(node)))
        for call in (n for n in ast.walk(node) if isinstance(n, ast.Call)):
            func = call.func
            if (isinstance(func, ast.Attribute) and func.attr in _MUTATORS
                    and _root_name(func.value) in imported):
                found.add((call.lineno, ast.unparse(call)))
    return [f"line {line}: {text}" for line, text in sorted(found)]


def test_the_registration_finder_finds_registrations():
    source = ("from . import keys\nfrom .model import HOOKS\nimport x\n"
              "keys.ORIGINS['X'] = f\nHOOKS.append(g)\nfor s in (1, 2):\n    x.specs.register(s)\n"
              "mine = {}\nmine['a'] = 1\n")
    assert [f.split(":")[0] for f in _registrations(ast.parse(source))] == ["line 4", "line 5", "line 7"]


def test_no_module_fills_another_modules_registry_when_imported():
    found = {m: _registrations(ast.parse(path.read_text())) for m, (path, _) in MODULES.items()}
    found = {m: f for m, f in found.items() if f}
    assert not found, "import-time registrations:\n" + "\n".join(f"{m}: {f}" for m, f in found.items())


def test_no_hook_lists():
    named = [f"{m}: {node.id}" for m, (path, _) in MODULES.items()
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Name) and node.id.endswith("_HOOKS")]
    assert not named, named


# A fresh interpreter imports each module with no keyplane module loaded before it, so a module
# that only works when something else happened to be imported first fails here.
_IMPORT_EACH = """
import importlib, sys, traceback
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "keyplane" or m.startswith("keyplane.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ": " + traceback.format_exc(limit=3))
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_on_its_own():
    names = sorted(m for m in MODULES if m != "keyplane.__main__")
    run = subprocess.run([sys.executable, "-c", _IMPORT_EACH, *names], capture_output=True, text=True,
                         cwd=SOURCE_ROOT, env={"PYTHONPATH": str(SOURCE_ROOT), "PATH": "/usr/bin:/bin"},
                         timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_operation_and_table_module_is_listed_in_services():
    """services.py is the list the engine serves: a module with operations it does not name would
    be silently unserved, a table module it does not name would never be created."""
    import importlib
    import pkgutil

    import keyplane.engine as engine_pkg
    from keyplane.engine import services

    listed = {m.__name__ for modules in services.SERVICES.values() for m in modules}
    tables = {m.__name__ for m in services.TABLE_MODULES}
    unlisted, unlisted_tables = [], []
    for info in pkgutil.walk_packages(engine_pkg.__path__, engine_pkg.__name__ + "."):
        module = importlib.import_module(info.name)
        defines = any(getattr(v, "operation_spec", None) is not None and getattr(v, "__module__", None) == info.name
                      for v in vars(module).values())
        if defines and info.name not in listed:
            unlisted.append(info.name)
        if (isinstance(getattr(module, "MIGRATIONS", None), dict) and info.name not in tables
                and module is not services):
            unlisted_tables.append(info.name)
    assert not unlisted and not unlisted_tables, (unlisted, unlisted_tables)
    assert len(services.OPERATIONS) == sum(
        1 for modules in services.SERVICES.values() for m in modules for v in vars(m).values()
        if getattr(v, "operation_spec", None) is not None and v.__module__ == m.__name__)
