"""Bulk upload: files, folders and globs, in parallel, skipping what the dataset already has."""

from __future__ import annotations

import glob
import hashlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .client import Client
from .errors import ChiplabError

#: what a folder contributes (a file named explicitly or by a glob is sent whatever its name)
SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".dm3", ".dm4"})


@dataclass
class Outcome:
    path: Path
    sha256: str
    size: int
    status: str = "pending"  # uploaded | skipped | failed
    image: str | None = None  # the image's id (uploaded, or the one already there)
    error: dict[str, Any] | None = field(default=None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "size": self.size,
            "status": self.status,
            "image": self.image,
            "error": self.error,
        }


def expand(patterns: Iterable[str]) -> tuple[list[Path], list[str]]:
    """The files that ``patterns`` name (files, folders searched recursively, globs), each
    once in the order given, and the patterns that matched nothing."""
    files: list[Path] = []
    unmatched: list[str] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_file():
            found = [path]
        elif path.is_dir():
            found = _folder(path)
        else:
            found = []
            for match in sorted(glob.glob(pattern, recursive=True)):
                m = Path(match)
                found.extend([m] if m.is_file() else _folder(m) if m.is_dir() else [])
        if not found:
            unmatched.append(pattern)
        files.extend(found)
    seen: set[Path] = set()
    unique = []
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, unmatched


def _folder(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def upload_many(
    client: Client,
    dataset_id: str,
    files: list[Path],
    *,
    parallel: int = 4,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Upload ``files`` to a dataset, skipping those whose sha256 it already holds.

    Safe to run again after an interruption: what arrived is skipped. The outcomes are in the
    order of ``files``.
    """
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        digests = list(pool.map(sha256_of, files))
    existing = {
        image["sha256"]: image["id"] for image in client.images.list(dataset_id, page_size=1000)
    }
    outcomes = [
        Outcome(path, digest, path.stat().st_size)
        for path, digest in zip(files, digests, strict=True)
    ]
    todo: list[Outcome] = []
    first_of: dict[str, Outcome] = {}
    for outcome in outcomes:
        if outcome.sha256 in existing:
            outcome.status, outcome.image = "skipped", existing[outcome.sha256]
        elif outcome.sha256 in first_of:  # the same bytes twice in this batch
            outcome.status = "skipped"
            outcome.error = {
                "code": "duplicate",
                "message": f"same file as {first_of[outcome.sha256].path}",
            }
        else:
            first_of[outcome.sha256] = outcome
            todo.append(outcome)
            continue
        if on_outcome is not None:
            on_outcome(outcome)

    def send(outcome: Outcome) -> Outcome:
        try:
            image = client.images.upload(dataset_id, outcome.path)
        except ChiplabError as err:
            if err.code == "duplicate":  # arrived meanwhile (another uploader)
                outcome.status = "skipped"
            else:
                outcome.status = "failed"
                outcome.error = {"status": err.status, "code": err.code, "message": err.message}
                if err.fields:
                    outcome.error["fields"] = err.fields
            return outcome
        outcome.status, outcome.image = "uploaded", image["id"]
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        for future in as_completed([pool.submit(send, o) for o in todo]):
            done = future.result()
            if on_outcome is not None:
                on_outcome(done)
    return outcomes
