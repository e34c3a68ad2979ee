"""The README's snippets and lists stay true to the code they describe.

- The engine snippet is the doctest of ``scratchmlp/engine.py`` (which runs
  with the test suite), line for line, and prints what the README says.
- The Example snippet searches the grid of ``examples/quickstart.py``, which
  the README calls its full version.
- Every deliberate departure from scikit-learn, in the README and in
  ``docs/migration.md``, names tests that pytest collects, and the two lists
  agree.
"""

import ast
import doctest
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import scratchmlp.engine

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
MIGRATION = (ROOT / "docs" / "migration.md").read_text(encoding="utf-8")


def _fenced_blocks(text: str) -> list[tuple[int, str, str]]:
    """Every fenced code block: (offset of its opening fence, language, code)."""
    pattern = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
    return [(m.start(), m.group(1), m.group(2)) for m in pattern.finditer(text)]


def _blocks_after(text: str, marker: str) -> list[tuple[str, str]]:
    """The fenced blocks after the first line containing ``marker``: (language, code)."""
    at = text.index(marker)
    return [(lang, code) for start, lang, code in _fenced_blocks(text) if start > at]


# ---------------------------------------------------------------------------
# The engine snippet.
# ---------------------------------------------------------------------------
def test_engine_snippet_is_the_engine_doctest():
    (lang, code), (out_lang, output) = _blocks_after(README, "runs as a doctest in")[:2]
    assert (lang, out_lang) == ("python", "text")
    examples = doctest.DocTestParser().get_examples(scratchmlp.engine.__doc__)
    # Line for line; blank lines, which a doctest cannot hold, aside.
    assert [line for line in code.splitlines() if line.strip()] == [
        line for e in examples for line in e.source.splitlines()
    ]
    assert output == "".join(e.want for e in examples)
    # It shows something: the cost before and after the step, and the step helps.
    before, after = (float(line.split(":")[1]) for line in output.splitlines())
    assert after < before


# ---------------------------------------------------------------------------
# The Example snippet and examples/quickstart.py.
# ---------------------------------------------------------------------------
def _quickstart():
    spec = importlib.util.spec_from_file_location("quickstart", ROOT / "examples" / "quickstart.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # main() runs only as a script
    return module


def _example_snippet():
    """The grid and the estimator's keyword arguments of the README's Example."""
    lang, code = _blocks_after(README, "## Example")[0]
    assert lang == "python"
    grid, kwargs = None, None
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "grid":
            grid = ast.literal_eval(node.value)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "ScratchMLPClassifier":
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
    return grid, kwargs


def test_example_snippet_searches_the_quickstart_grid():
    from scratchmlp import ScratchMLPClassifier

    quickstart = _quickstart()
    grid, kwargs = _example_snippet()
    assert {k.removeprefix("scratchmlpclassifier__"): v for k, v in grid.items()} == {
        k.removeprefix("mlp__"): v for k, v in quickstart.PARAM_GRID.items()
    }
    params = ScratchMLPClassifier(**kwargs).get_params()
    assert {k: params[k] for k in quickstart.BASE_PARAMS} == quickstart.BASE_PARAMS
    # A grid whose candidates differ along every axis it searches.
    assert all(len(values) > 1 for values in grid.values())


# ---------------------------------------------------------------------------
# The list of deliberate departures.
# ---------------------------------------------------------------------------
NODE_ID = re.compile(r"`(tests/test_\w+\.py::\w+)`")


def _departures(text: str, heading: str) -> dict[str, list[str]]:
    """The list under ``heading``: {bold title of each bullet: the test node ids it names}."""
    section = text[text.index(heading) :]
    section = section[: section.index("\n## ", 1)] if "\n## " in section[1:] else section
    bullets = re.findall(r"^- (.*)$", section, re.MULTILINE)
    assert bullets, f"no list under {heading!r}"
    return {re.match(r"\*\*(.+?)\*\*", b).group(1): NODE_ID.findall(b) for b in bullets}


def test_every_departure_names_tests_that_exist():
    readme = _departures(README, "### Deliberate departures from scikit-learn")
    migration = _departures(MIGRATION, "## What differs")
    assert readme == migration  # the same cases, with the same tests
    assert "`warm_start=True` with a changed architecture." in readme
    for title, node_ids in readme.items():
        assert node_ids, f"departure {title!r} names no test"

    node_ids = sorted({n for ids in readme.values() for n in ids})
    collected = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            *node_ids,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # pytest exits non-zero, naming the node, if any of them does not exist.
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    for node_id in node_ids:
        assert re.search(rf"^{re.escape(node_id)}(\[|$)", collected.stdout, re.MULTILINE), node_id
