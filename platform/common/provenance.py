"""Provenance helpers shared by jobs and training runs."""

from __future__ import annotations

import functools
import subprocess
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path

from django.conf import settings

__all__ = ["code_version"]


@functools.cache
def _git_version() -> str:
    root = Path(settings.REPO_DIR)
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def code_version() -> str:
    """settings.CHIPLAB_CODE_VERSION, else ``git describe``, else the package version."""
    if settings.CHIPLAB_CODE_VERSION:
        return settings.CHIPLAB_CODE_VERSION
    if version := _git_version():
        return f"git:{version}"
    try:
        return f"chiplab {package_version('chiplab')}"
    except PackageNotFoundError:
        return "unknown"
