"""Every function-local import in platform/ and workers/fewshot/ says why it is not at the top
of its module.

An import inside a function is how a cycle hides from the import contracts' readers, so each
one carries a comment (on its line, or just above its block of imports): a heavy dependency
loaded by the path that needs it (torch, mlflow, zarr), or a load-order reason.
"""

import ast
from pathlib import Path

PLATFORM = Path(__file__).resolve().parents[2] / "platform"
FEWSHOT = Path(__file__).resolve().parents[2] / "workers" / "fewshot"


def _explained(lines: list[str], node: ast.stmt) -> bool:
    if "#" in lines[node.lineno - 1] or "#" in lines[node.end_lineno - 1]:
        return True
    above = node.lineno - 2
    while above >= 0:  # up through the block of imports it belongs to
        text = lines[above].strip()
        if text.startswith("#"):
            return True
        if not (text in ("", ")") or text.startswith(("from ", "import ")) or text.endswith(",")):
            return False
        above -= 1
    return False


def unexplained_local_imports(root: Path = PLATFORM) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        source = path.read_text()
        lines = source.splitlines()
        for function in ast.walk(ast.parse(source)):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom) and not _explained(lines, node):
                    found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_every_function_local_import_says_why():
    assert unexplained_local_imports() == []


def test_every_function_local_import_of_the_ml_library_says_why():
    assert unexplained_local_imports(FEWSHOT) == []


def test_an_unexplained_local_import_is_found(tmp_path):
    (tmp_path / "m.py").write_text(
        "def f():\n    import json\n\n    return json\n\n\n"
        "def g():\n    # heavy: only g needs it\n    import json\n\n    return json\n"
    )
    assert unexplained_local_imports(tmp_path) == ["m.py:2"]
