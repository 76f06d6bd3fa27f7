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
