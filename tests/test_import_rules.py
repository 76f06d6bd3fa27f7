"""The four import packages keep their layering: tfrecord_builder, augment and models are leaves."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("tfrecord_builder", "pipelines", "models", "augment")
LEAVES = ("tfrecord_builder", "augment", "models")


def _imported_packages(package):
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in PACKAGES and top != package:
                    found.setdefault(top, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


@pytest.mark.parametrize("package", LEAVES)
def test_leaf_packages_import_none_of_the_others(package):
    assert _imported_packages(package) == {}


def test_every_package_imports():
    import importlib

    for package in PACKAGES:
        importlib.import_module(package)


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_imports(tree, modules):
    """(imported project module, line, inside a function?) for every import statement of a parsed module.

    `from package import module` depends on that module (its package's __init__ runs first in any case).
    """
    functions = {id(sub) for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                 for sub in ast.walk(node) if sub is not node}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                     for a in node.names]
        else:
            continue
        for name in names:
            if name in modules:
                yield name, node.lineno, id(node) in functions


def _graph():
    modules = {_module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    edges, local = {}, []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name, line, in_function in _project_imports(tree, modules):
            if name == module:
                continue
            if in_function:
                local.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
            else:
                edges.setdefault(module, set()).add(name)
    return modules, edges, local


def test_no_function_imports_the_projects_own_modules():
    assert _graph()[2] == []


def test_no_import_circle():
    modules, edges, _ = _graph()
    state, cycles = {}, []

    def visit(module, stack):
        state[module] = "open"
        for target in sorted(edges.get(module, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target, stack + [target])
        state[module] = "done"

    for module in sorted(modules):
        if module not in state:
            visit(module, [module])
    assert cycles == []
