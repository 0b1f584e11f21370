"""config.settings is a package of modules by concern: each stays small, and no setting is
defined in two of them (``__init__`` star-imports them all: one would silently win)."""

import ast
import importlib
from pathlib import Path

import config.settings

PACKAGE = Path(config.settings.__file__).parent
MODULES = sorted(p for p in PACKAGE.glob("*.py") if p.name != "__init__.py")


def _defined(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        targets += [node.target] if isinstance(node, ast.AnnAssign) else []
        names |= {t.id for t in targets if isinstance(t, ast.Name) and t.id.isupper()}
    return {name for name in names if not name.startswith("_")}  # private: not settings


def test_no_settings_module_beside_the_package():
    """A config/settings.py next to the package would be ignored (the package wins): a setting
    added there would silently not exist."""
    assert not (PACKAGE.parent / "settings.py").exists()


def test_each_module_is_under_400_lines():
    assert len(MODULES) >= 5
    for path in [*MODULES, PACKAGE / "__init__.py"]:
        assert len(path.read_text().splitlines()) <= 400, path.name


def test_no_setting_is_defined_in_two_modules():
    seen: dict[str, str] = {}
    for path in MODULES:
        for name in _defined(path):
            assert name not in seen, f"{name} in {seen.get(name)} and {path.name}"
            seen[name] = path.name
    assert {"DEBUG", "DATABASES", "STORAGES", "CELERY_BROKER_URL", "REST_FRAMEWORK"} <= set(seen)


def test_the_package_exports_every_modules_settings():
    for path in MODULES:
        module = importlib.import_module(f"config.settings.{path.stem}")
        for name in _defined(path):
            assert getattr(config.settings, name) is getattr(module, name), name
