"""The shape of the source: small functions, a small estimator base class."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "scratchmlp"
MAX_FUNCTION_LINES = 60
MAX_BASE_CLASS_LINES = 450


def _functions(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def _length(node) -> int:
    """Lines from the ``def`` to the end of the body, less the docstring.

    numpydoc docstrings (parameters, shapes, examples) are long by design;
    what must stay short is the code.
    """
    lines = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        if isinstance(first.value.value, str):
            lines -= first.end_lineno - first.lineno + 1
    return lines


@pytest.mark.parametrize("path", sorted(SRC.glob("*.py")), ids=lambda p: p.name)
def test_no_function_over_60_lines(path):
    long = {f.name: _length(f) for f in _functions(path) if _length(f) > MAX_FUNCTION_LINES}
    assert not long, f"{path.name}: functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_estimator_base_class_is_small():
    tree = ast.parse((SRC / "_base.py").read_text())
    (base,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "BaseScratchMLP"]
    assert base.end_lineno - base.lineno + 1 <= MAX_BASE_CLASS_LINES
