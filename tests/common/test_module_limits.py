"""The size limits of the house style hold: small modules and short functions.

No production Python module in platform/, workers/ or client/ is over 400 lines and no function
or method there is over 80 (from its `def` line to its last line, nested ones counted on their
own); no frontend JS module is over 400 lines. Left aside: Django migrations (`migrations/`
folders), which makemigrations writes; nothing else in these folders is generated.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON_ROOTS = ("platform", "workers", "client")
JS_ROOT = ROOT / "frontend" / "static" / "chiplab" / "js"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def python_modules(root: Path = ROOT, folders=PYTHON_ROOTS) -> list[Path]:
    return sorted(
        path
        for folder in folders
        for path in (root / folder).rglob("*.py")
        if "migrations" not in path.parts
    )


def long_python(paths: list[Path], root: Path = ROOT) -> list[str]:
    """Every module over MAX_MODULE_LINES and function over MAX_FUNCTION_LINES, with its size."""
    found = []
    for path in paths:
        name = path.relative_to(root)
        source = path.read_text()
        if (size := len(source.splitlines())) > MAX_MODULE_LINES:
            found.append(f"{name}: {size} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = node.end_lineno - node.lineno + 1
                if size > MAX_FUNCTION_LINES:
                    found.append(f"{name}:{node.lineno} {node.name}(): {size} lines")
    return found


def long_js(root: Path = JS_ROOT) -> list[str]:
    return [
        f"{path.relative_to(root)}: {size} lines"
        for path in sorted(root.rglob("*.js"))
        if (size := _lines(path)) > MAX_MODULE_LINES
    ]


def test_no_python_module_or_function_is_too_long():
    found = long_python(python_modules())
    assert not found, (
        f"over {MAX_MODULE_LINES} lines a module or {MAX_FUNCTION_LINES} a function:\n"
        + "\n".join(found)
    )


def test_no_frontend_module_is_too_long():
    found = long_js()
    assert not found, f"JS modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(found)


def test_every_offender_is_listed_with_its_size(tmp_path):
    body = "".join(f"        x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "platform" / "app" / "migrations").mkdir(parents=True)
    (tmp_path / "platform" / "app" / "m.py").write_text(
        f"def short():\n    pass\n\n\nclass C:\n    def long(self):\n{body}"
    )
    (tmp_path / "platform" / "app" / "big.py").write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    (tmp_path / "platform" / "app" / "migrations" / "0001.py").write_text("x = 1\n" * 999)
    paths = python_modules(tmp_path, ("platform",))
    assert long_python(paths, tmp_path) == [
        f"platform/app/big.py: {MAX_MODULE_LINES + 1} lines",
        f"platform/app/m.py:6 long(): {MAX_FUNCTION_LINES + 1} lines",
    ]
    (tmp_path / "js" / "views").mkdir(parents=True)
    (tmp_path / "js" / "views" / "big.js").write_text("x;\n" * (MAX_MODULE_LINES + 1))
    (tmp_path / "js" / "small.js").write_text("x;\n" * MAX_MODULE_LINES)
    assert long_js(tmp_path / "js") == [f"views/big.js: {MAX_MODULE_LINES + 1} lines"]
