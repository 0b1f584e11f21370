"""Where the CLI keeps server addresses and tokens: a private file in the user's config dir.

``$CHIPLAB_CONFIG``, else ``$XDG_CONFIG_HOME/chiplab/config.json``, else
``~/.config/chiplab/config.json``; the folder is 0700 and the file 0600. ``CHIPLAB_URL`` and
``CHIPLAB_TOKEN`` override it (for CI jobs that get the token from a secret store).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .client import DEFAULT_URL


def config_path() -> Path:
    if explicit := os.environ.get("CHIPLAB_CONFIG"):
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "chiplab" / "config.json"


def normalise_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if "://" not in url:
        raise ValueError(f"{url!r} is not a URL (http://… or https://…)")
    return url


def load() -> dict[str, Any]:
    """``{"default": url, "servers": {url: {"token": …}}}`` (empty when there is no file)."""
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {"servers": {}}
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
    data.setdefault("servers", {})
    return data


def save(data: dict[str, Any]) -> Path:
    """Write the config atomically, readable by its owner only."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)  # mkstemp makes 0600 already; say it anyway
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def store_token(url: str, token: str) -> Path:
    """Remember ``token`` for ``url`` and make ``url`` the default server."""
    url = normalise_url(url)
    data = load()
    data["servers"].setdefault(url, {})["token"] = token
    data["default"] = url
    return save(data)


def credentials(url: str | None = None) -> tuple[str, str | None]:
    """The server to talk to and its token: arguments, then environment, then the file."""
    data = load()
    url = normalise_url(url or os.environ.get("CHIPLAB_URL") or data.get("default") or DEFAULT_URL)
    token = os.environ.get("CHIPLAB_TOKEN") or data["servers"].get(url, {}).get("token")
    return url, token
