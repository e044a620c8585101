"""Imports point one way: every module of the library (deferred imports inside functions included)
imports only modules of its own layer or of layers below it. Read from the source with ``ast``."""
import ast
from pathlib import Path

import pytest

import nanoinfer_lib

# lowest first; a module belongs to the first entry that names it or a package above it
LAYERS = [
    ("leaf", ["paths", "cli", "cpu", "validate", "benchmark.stats"]),
    ("core", ["model", "kv_cache", "sampling", "tokenizer", "checkpoint", "generation"]),
    ("fast paths", ["kernels", "quantize", "static_decode"]),
    ("decoding methods", ["metrics", "memory", "explorer", "speculative", "serving", "train"]),
    ("commands", ["serve", "benchmark", "__main__"]),
    ("notebook-facing", ["plots", "checks", "widgets", "course", "maintain"]),
]
PACKAGE = Path(nanoinfer_lib.__file__).parent


def layer(module: str) -> int:
    """The layer of ``module`` (dotted, inside the package); the package itself is above them all."""
    for i, (_, names) in enumerate(LAYERS):
        if any(module == n or module.startswith(n + ".") for n in names):
            return i
    return len(LAYERS) if module == "" else -1


def imports(path: Path, root: Path) -> list[tuple[str, int]]:
    """(module imported, line) for every import of the package in ``path``, at any depth."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    package = parts[:-1]                  # the package the file is in (its own, for an __init__)
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1] + (node.module.split(".") if node.module else [])
            elif (node.module or "").split(".")[0] == root.name:
                base = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:       # `from . import validate` imports the module validate
                sub = base + [alias.name]
                is_module = (root.joinpath(*sub).with_suffix(".py").is_file() or root.joinpath(*sub).is_dir())
                out.append((".".join(sub if is_module else base), node.lineno))
        elif isinstance(node, ast.Import):
            out += [(".".join(a.name.split(".")[1:]), node.lineno) for a in node.names
                    if a.name.split(".")[0] == root.name]
    return out


def upward_imports(root: Path) -> list[str]:
    """Every import in the package at ``root`` that points to a higher layer."""
    found = []
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if module == "":
            continue                      # the package's __init__ gathers the public API from every layer
        own = layer(module)
        assert own >= 0, f"{module} has no layer: add it to LAYERS"
        for target, line in imports(path, root):
            if layer(target) > own:
                found.append(f"{module}:{line} imports {target or root.name} "
                             f"({LAYERS[own][0]} -> {'the package' if target == '' else LAYERS[layer(target)][0]})")
    return found


def test_no_module_imports_one_above_it():
    assert upward_imports(PACKAGE) == []


@pytest.mark.parametrize("module, source", [
    ("model.py", "def f():\n    from .plots import plot_kv_sweep\n"),              # deferred, relative
    ("kernels.py", "from nanoinfer_lib.benchmark import timing\n"),                  # absolute
    ("benchmark/speed.py", "from ..course import setup\n"),                          # from a subpackage
    ("validate.py", "from . import model\n"),                                        # a module by name
    ("sampling.py", "import nanoinfer_lib.explorer\n"),
    ("generation.py", "from . import generate_batch\n"),                             # the package's API
])
def test_an_upward_import_is_found(tmp_path, module, source):
    root = tmp_path / "nanoinfer_lib"
    for name in ("__init__.py", "model.py", "kernels.py", "validate.py", "sampling.py", "generation.py",
                 "explorer.py", "course.py", "plots/__init__.py", "benchmark/__init__.py",
                 "benchmark/speed.py", "benchmark/timing.py"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")
    assert upward_imports(root) == []
    (root / module).write_text(source)
    assert len(upward_imports(root)) == 1
