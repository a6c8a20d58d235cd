"""The package's layers import one way: config → tokenizer/tasks → data → model → train → cli.

Each module may import from its own layer and the layers below it, never above, so a reader can take the package
bottom up and a change low down cannot be undone by a helper living higher up. Imports inside functions count too.
"""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mindgpt"

# Lowest first. A module is named by its path under mindgpt/ without .py; a package's modules by its folder.
LAYERS = [
    {"io", "metrics"},  # plain helpers: atomic files, numpy metrics
    {"config"},
    {"tokenizer", "tasks"},
    {"data"},
    {"model", "outputs", "dropout", "checkpoint", "torch_pickle", "generate", "likelihood", "export"},
    {"train"},
    {"cli", "__main__", "__init__"},
]


def layer_of(module: str) -> int:
    top = module.split(".")[0]
    for rank, names in enumerate(LAYERS):
        if top in names:
            return rank
    raise AssertionError(f"mindgpt.{module} is in no layer: add it to LAYERS in {Path(__file__).name}")


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def imported_modules(source: str, module: str) -> set[str]:
    """The mindgpt modules `source` (the text of mindgpt/<module>) imports, anywhere in it, as names under
    mindgpt/ ("data.corpus", "model")."""
    parts = module.split(".")
    package = parts[:-1]  # a package's __init__ is module "<package>.__init__": its package is <package>
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name[len("mindgpt."):] for a in node.names if a.name.startswith("mindgpt.")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package[:len(package) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            elif node.module and node.module.startswith("mindgpt"):
                target = node.module[len("mindgpt."):]
            else:
                continue
            # `from . import x`, `from mindgpt import x`: each name is a module or a name the package's __init__ holds
            found |= {target} if target else {a.name if is_module(a.name) else "__init__" for a in node.names}
    return found


def is_module(name: str) -> bool:
    return (PACKAGE / f"{name}.py").is_file() or (PACKAGE / name / "__init__.py").is_file()


def upward_imports(source: str, module: str) -> list[str]:
    return [f"mindgpt.{module} imports mindgpt.{target}" for target in sorted(imported_modules(source, module))
            if layer_of(target) > layer_of(module)]


def test_every_import_goes_down_or_sideways():
    upward = [line for path in sorted(PACKAGE.rglob("*.py"))
              for line in upward_imports(path.read_text(encoding="utf-8"), module_name(path))]
    assert not upward, "imports that climb a layer:\n" + "\n".join(upward)


def test_an_upward_import_is_caught_even_inside_a_function():
    source = "def f():\n    from ..train.settings import PretrainSettings\n"
    assert upward_imports(source, "data.corpus") == ["mindgpt.data.corpus imports mindgpt.train.settings"]
    assert upward_imports("from mindgpt.cli import main\n", "model") == ["mindgpt.model imports mindgpt.cli"]
    assert upward_imports("from .config import GPTConfig\n", "model") == []


@pytest.mark.parametrize("module", ["mindgpt.config", "mindgpt.tokenizer", "mindgpt.tasks"])
def test_imports_without_mindspore(module):
    # the lowest layers serve the benchmarks, data preparation and tokenizer work where MindSpore is absent
    probe = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'mindspore'))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]", f"importing {module} loaded {loaded}"
