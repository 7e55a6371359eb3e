"""Code that reads in one screen: no module in spacy_stsn/ over 450 lines and no
function over 80 lines (its decorators, signature and docstring included)."""

import ast
import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import List

PACKAGE = Path(__file__).parent.parent / "spacy_stsn"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80
# functions allowed to be longer, each named with why: a declarative table (one entry
# per command-line option) reads in one screen per entry, not as a whole
EXCEPTIONS: List[str] = []


def too_long() -> List[str]:
    """Every module and function of spacy_stsn/ over its limit, as ``path: what``."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf8")
        where = path.relative_to(PACKAGE.parent).as_posix()
        n_lines = len(source.splitlines())
        if n_lines > MAX_MODULE_LINES:
            found.append(f"{where}: {n_lines} lines")
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            length = node.end_lineno - first + 1
            name = f"{where}::{node.name}"
            if length > MAX_FUNCTION_LINES and name not in EXCEPTIONS:
                found.append(f"{name}: {length} lines")
    return found


def test_no_module_over_450_lines_and_no_function_over_80():
    assert too_long() == [], "split these:\n" + "\n".join(too_long())


def test_the_training_targets_import_neither_the_network_nor_its_optimizer():
    """The requests the component sends the model (spacy_stsn.ml.requests) are plain
    records: building training targets loads no model, optimizer or precision code."""
    script = (
        "import sys, spacy_stsn.pipeline.targets; "
        "print([m for m in ('spacy_stsn.ml.model', 'spacy_stsn.ml.optimizer', "
        "'spacy_stsn.ml.precision', 'spacy_stsn.nn.stsn') if m in sys.modules])"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"


def undocumented_arguments(package: str) -> List[str]:
    """The public functions and methods defined in ``package``'s modules whose
    docstring does not list each argument on a line of its own, as ``name (type):``.

    package (str): the package, e.g. "spacy_stsn.ml".
    RETURNS (List[str]): ``module.function: missing arguments`` for each.
    """
    found = []
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        module = importlib.import_module(f"{package}.{info.name}")
        functions = [
            (name, value)
            for name, value in vars(module).items()
            if inspect.isfunction(value) and value.__module__ == module.__name__
        ]
        for cls in vars(module).values():
            if inspect.isclass(cls) and cls.__module__ == module.__name__:
                functions += [
                    (f"{cls.__name__}.{name}", getattr(value, "__func__", value))
                    for name, value in vars(cls).items()
                    if inspect.isfunction(getattr(value, "__func__", value))
                ]
        for name, function in functions:
            if name.split(".")[-1].startswith("_"):
                continue
            lines = {
                line.strip() for line in (inspect.getdoc(function) or "").split("\n")
            }
            missing = [
                argument
                for argument in inspect.signature(function).parameters
                if argument not in ("self", "cls")
                and not any(line.startswith(f"{argument} (") for line in lines)
            ]
            if missing:
                found.append(f"{module.__name__}.{name}: {missing}")
    return found


def test_public_functions_of_pipeline_and_ml_list_their_arguments():
    """As spaCy's docstrings do: one line per argument, ``name (type): what``."""
    missing = undocumented_arguments("spacy_stsn.pipeline")
    missing += undocumented_arguments("spacy_stsn.ml")
    assert missing == [], "\n".join(missing)
