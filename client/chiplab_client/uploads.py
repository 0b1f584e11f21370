"""Bulk upload: files, folders and globs, in parallel, skipping what the dataset already has."""

from __future__ import annotations

import glob
import hashlib
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from http import client as http_client
from pathlib import Path
from typing import Any
from urllib import error as urlerror
from urllib import request as urlrequest

from .client import Client
from .errors import ChiplabError
from .waiting import failure, poll

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
    direct: bool = False,
    progress: Callable[[Path, int, int | None], None] | None = None,
    checking: Callable[[Path, int, int | None], None] | None = None,
) -> list[Outcome]:
    """Upload ``files`` to a dataset, skipping those whose sha256 it already holds.

    Safe to run again after an interruption: what arrived is skipped. The outcomes are in the
    order of ``files``. ``direct``: each file straight to the object store in parts
    (:func:`upload_direct`, resuming an interrupted one), ``progress(path, bytes, total)``
    as bytes are sent and ``checking(path, bytes, total)`` as the server hashes them.
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
        return _send(client, dataset_id, outcome, direct, progress, checking)

    pool = ThreadPoolExecutor(max_workers=max(1, parallel))
    try:
        for future in as_completed([pool.submit(send, o) for o in todo]):
            done = future.result()
            if on_outcome is not None:
                on_outcome(done)
    except BaseException:
        # interrupted (Ctrl-C): the files being sent finish, the rest are not started; running
        # the same upload again sends them (what arrived is skipped)
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return outcomes


def _send(client, dataset_id, outcome: Outcome, direct: bool, progress, checking) -> Outcome:
    """Upload one file of :func:`upload_many` and record how it went on its outcome."""
    path = outcome.path
    try:
        if direct:
            image = upload_direct(
                client,
                dataset_id,
                path,
                sha256=outcome.sha256,
                progress=(lambda d, t: progress(path, d, t)) if progress else None,
                checking=(lambda d, t: checking(path, d, t)) if checking else None,
            )
        else:
            image = client.images.upload(dataset_id, path)
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


# --- direct upload: parts straight to the object store ------------------------------------
class _Slice:
    """``size`` bytes of a file from ``offset``, read by urllib as a PUT body."""

    def __init__(self, path: Path, offset: int, size: int, on_read: Callable[[int], None]):
        self._fh = path.open("rb")
        self._fh.seek(offset)
        self._left = size
        self._on_read = on_read

    def read(self, amount: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        amount = self._left if amount is None or amount < 0 else min(amount, self._left)
        data = self._fh.read(amount)
        self._left -= len(data)
        self._on_read(len(data))
        return data

    def close(self) -> None:
        self._fh.close()


def put_part(
    url: str,
    path: Path,
    offset: int,
    size: int,
    *,
    on_bytes: Callable[[int], None] = lambda n: None,
    retries: int = 4,
    backoff: float = 0.5,
    timeout: float = 300.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """PUT one part to its presigned URL with plain urllib (no token: the signature is the
    credential), retried on connection errors, 429 and 5xx; its ETag."""
    for attempt in range(retries + 1):
        sent = 0

        def count(n: int) -> None:
            nonlocal sent
            sent += n
            on_bytes(n)

        body = _Slice(path, offset, size, count)
        # a content type of our own: urllib would send a form's, which stores may parse
        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        request = urlrequest.Request(url, data=body, method="PUT", headers=headers)
        try:
            with urlrequest.urlopen(request, timeout=timeout) as answer:
                return (answer.headers.get("ETag") or "").strip('"')
        except urlerror.HTTPError as err:
            text = err.read().decode("utf-8", errors="replace")
            retry = err.code in (429, 500, 502, 503, 504)
            if not retry or attempt == retries:
                raise ChiplabError(
                    f"the object store refused part at byte {offset}: HTTP {err.code} "
                    + " ".join(text.split())[:300],
                    status=err.code,
                    code="part_refused",
                    method="PUT",
                    url=url.split("?", 1)[0],
                ) from err
        except (OSError, http_client.HTTPException) as err:
            if attempt == retries:
                raise ChiplabError(
                    f"could not reach the object store: {err}",
                    code="connection_error",
                    method="PUT",
                    url=url.split("?", 1)[0],
                ) from err
        finally:
            body.close()
        on_bytes(-sent)  # sent again on the next try
        sleep(min(30.0, backoff * 2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def upload_direct(
    client: Client,
    dataset_id: str,
    path: str | Path,
    *,
    sha256: str | None = None,
    parallel: int = 4,
    progress: Callable[[int, int | None], None] | None = None,
    checking: Callable[[int, int | None], None] | None = None,
    resume: bool = True,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Upload one (large) file straight to the object store: the API presigns a URL per
    part, the parts are PUT in parallel, and a commit has the server's worker check size and
    sha256 and make the image; this waits for it (the image, ``pending`` until ingested).

    ``resume``: an open upload of the same bytes to this dataset (an interrupted run) is
    continued, sending only the parts the store does not hold yet, or waited on if it was
    committed already. ``progress(done, total)`` counts bytes sent, ``checking(done, total)``
    the bytes the server has hashed. A refused file raises ChiplabError with the upload's
    ``error_code`` (``sha256_mismatch``, ``duplicate``, …). Needs a server with an S3 store
    (409 ``needs_s3`` otherwise).
    """
    path = Path(path)
    size = path.stat().st_size
    sha256 = sha256 or sha256_of(path)
    datasets = client.datasets
    state = _open_upload(client, dataset_id, sha256, size) if resume else None
    if state is not None and state["status"] == "committing":
        return wait_upload(client, dataset_id, state["id"], progress=checking, timeout=timeout)
    if state is None:
        state = datasets.start_upload(dataset_id, path.name, size, sha256)
    lock = threading.Lock()
    done = size - sum(p["size"] for p in state["parts"])

    def on_bytes(n: int) -> None:
        nonlocal done
        with lock:
            done += n
            if progress is not None:
                progress(done, size)

    on_bytes(0)

    def send(part: dict[str, Any]) -> str:
        offset = (part["number"] - 1) * state["part_size"]
        return put_part(part["url"], path, offset, part["size"], on_bytes=on_bytes)

    for _ in range(3):  # more rounds for parts the commit still misses
        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            list(pool.map(send, state["parts"]))
        try:
            datasets.commit_upload(dataset_id, state["id"])
            break
        except ChiplabError as err:
            if err.code != "missing_parts":
                raise
            state = datasets.upload_state(dataset_id, state["id"])
    else:
        datasets.commit_upload(dataset_id, state["id"])
    return wait_upload(client, dataset_id, state["id"], progress=checking, timeout=timeout)


def _open_upload(client: Client, dataset_id: str, sha256: str, size: int) -> dict | None:
    """An upload of these bytes that an interrupted run left open or committing."""
    for status in ("committing", "uploading"):
        for upload in client.datasets.uploads(dataset_id, status=status):
            if upload["sha256"] == sha256 and upload["size_bytes"] == size:
                return client.datasets.upload_state(dataset_id, upload["id"])
    return None


def wait_upload(
    client: Client,
    dataset_id: str,
    upload_id: str,
    *,
    progress: Callable[[int, int | None], None] | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Poll a committed upload until the server's check has ended: the image it made, else
    ChiplabError with the upload's error and ``error_code``."""

    def on_state(state: dict[str, Any]) -> None:
        if progress is not None:
            progress(int(state.get("checked_bytes") or 0), state.get("size_bytes"))

    done = poll(
        lambda: client.datasets.upload_state(dataset_id, upload_id),
        finished=lambda s: s.get("status") != "committing",
        sleep=client.session.sleep,
        what=f"Upload {upload_id}",
        on_state=on_state,
        timeout=timeout,
    )
    if done.get("status") != "committed" or not done.get("image"):
        raise failure(done, f"Upload {upload_id}", "upload_failed")
    return client.images.get(done["image"])
