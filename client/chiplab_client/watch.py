"""On-the-fly analysis: watch a folder an instrument writes to; upload and segment each new frame.

Standard library only. The folder is polled (no inotify: it works the same on network shares
and every OS). A file counts as complete once its size and modification time have not changed
for ``settle`` seconds. Each complete file is hashed; a file whose sha256 the dataset already
holds is skipped (a restarted watch does not redo what arrived before, as ``upload`` does),
any other is uploaded, segmented with the frozen support set once the server has ingested it,
and its fractions reported as soon as its job has finished. Frames are processed by a few
threads at once, so a slow frame does not hold up the next. A frame that failed (a file the
server could not read: written more slowly than ``settle``) is tried again once it changes.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .client import Client
from .errors import ChiplabError
from .uploads import SUFFIXES, sha256_of


@dataclass
class Frame:
    """One file's way through: seen -> complete -> uploaded -> ready -> segmented."""

    path: Path
    seen: float  # time.monotonic() when the file was first seen
    status: str = "pending"  # succeeded | skipped | failed
    sha256: str = ""
    image: str | None = None
    job: str | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    job_timings: dict[str, Any] = field(default_factory=dict)  # the server's, per stage

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "status": self.status,
            "sha256": self.sha256,
            "image": self.image,
            "job": self.job,
            "results": self.results,
            "error": self.error,
            "seconds": self.timings,
            "job_seconds": self.job_timings,
        }


class Watcher:
    """Polls ``folder`` and runs each complete new file through upload -> segment -> results.

    ``on_frame(frame)`` is called (from a worker thread, one call at a time) when a frame is
    done, skipped or failed.
    """

    def __init__(
        self,
        client: Client,
        folder: str | os.PathLike,
        *,
        dataset: str,
        support_set: str,
        model_version: str | None = None,
        params: dict[str, Any] | None = None,
        on_frame: Callable[[Frame], None] | None = None,
        interval: float = 0.1,
        settle: float = 0.3,
        parallel: int = 2,
        job_timeout: float = 600.0,
    ):
        self.client = client
        self.folder = Path(folder)
        self.dataset = dataset
        self.support_set = support_set
        self.model_version = model_version
        self.params = params
        self.on_frame = on_frame
        self.interval = interval
        self.settle = settle
        self.job_timeout = job_timeout
        self._pool = ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="watch")
        self._report = threading.Lock()
        self._known: dict[str, str] = {}  # sha256 -> image id, of the dataset
        self._pending: dict[Path, tuple[int, int, float, float]] = {}  # size, mtime, since, seen
        self._taken: dict[Path, tuple[int, int]] = {}  # path -> (size, mtime) when taken
        self._retry: set[Path] = set()  # failed: taken again once the file changes
        self._futures: list[Future] = []
        self.done = 0

    # --- the loop ---
    def run(self, *, max_frames: int | None = None, timeout: float | None = None) -> int:
        """Watch until interrupted, until ``max_frames`` frames are done or after ``timeout``
        seconds; returns the number of frames done (skipped and failed included)."""
        if not self.folder.is_dir():
            raise FileNotFoundError(f"no folder {self.folder}")
        self._known = {
            image["sha256"]: image["id"]
            for image in self.client.images.list(self.dataset, page_size=1000)
        }
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while max_frames is None or self.done < max_frames:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                self.poll()
                time.sleep(self.interval)
        finally:
            self._pool.shutdown(wait=True, cancel_futures=max_frames is None)
        return self.done

    def poll(self) -> list[Path]:
        """One look at the folder: start the files that have become complete."""
        now = time.monotonic()
        started = []
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return started
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith(".") or Path(entry.name).suffix.lower() not in SUFFIXES:
                continue
            if path in self._taken and path not in self._retry:
                continue
            try:
                if not entry.is_file():
                    continue
                stat = entry.stat()
            except OSError:  # removed meanwhile
                continue
            key = (stat.st_size, stat.st_mtime_ns)
            if self._taken.get(path) == key:
                continue  # failed as it is now: tried again only once it changes
            known = self._pending.get(path)
            if known is None or known[:2] != key:
                seen = known[3] if known else now
                self._pending[path] = (*key, now, seen)
                continue
            if stat.st_size == 0 or now - known[2] < self.settle:
                continue
            del self._pending[path]
            self._taken[path] = key
            self._retry.discard(path)
            frame = Frame(path, seen=known[3])
            self._futures.append(self._pool.submit(self._process, frame))
            started.append(path)
        return started

    # --- one frame ---
    def _process(self, frame: Frame) -> Frame:
        t0 = time.monotonic()
        try:
            frame.sha256 = sha256_of(frame.path)
            if frame.sha256 in self._known:
                frame.status, frame.image = "skipped", self._known[frame.sha256]
                return frame
            try:
                image = self.client.images.upload(self.dataset, frame.path)
            except ChiplabError as err:
                if err.code != "duplicate":
                    raise
                frame.status = "skipped"  # the same bytes under another name, meanwhile
                return frame
            frame.image = image["id"]
            self._known[frame.sha256] = image["id"]
            t1 = time.monotonic()
            image = self._ready(image)
            t2 = time.monotonic()
            job = self.client.jobs.create(
                images=[frame.image],
                support_set=self.support_set,
                model_version=self.model_version,
                params=self.params,
            )
            frame.job = job.id
            job = job.wait(interval=0.05, max_interval=0.5, timeout=self.job_timeout)
            t3 = time.monotonic()
            frame.results = [_fractions(r) for r in job.results]
            frame.job_timings = job.data.get("timings") or {}
            frame.status = "succeeded"
            frame.timings = {
                "upload": round(t1 - t0, 3),
                "ingest": round(t2 - t1, 3),
                "segment": round(t3 - t2, 3),
            }
        except ChiplabError as err:
            frame.status = "failed"
            frame.error = {"status": err.status, "code": err.code, "message": err.message}
        except OSError as err:
            frame.status = "failed"
            frame.error = {"code": "io", "message": str(err)}
        finally:
            if frame.status == "failed":
                self._retry.add(frame.path)
            frame.timings["settle"] = round(t0 - frame.seen, 3)
            frame.timings["total"] = round(time.monotonic() - frame.seen, 3)
            with self._report:
                self.done += 1
                if self.on_frame is not None:
                    self.on_frame(frame)
        return frame

    def _ready(self, image: dict[str, Any]) -> dict[str, Any]:
        """Poll the new image until the server has ingested it."""
        delay, deadline = 0.05, time.monotonic() + self.job_timeout
        while image["status"] == "pending":
            if time.monotonic() >= deadline:
                raise ChiplabError(
                    f"image {image['id']} still pending after {self.job_timeout:g} s",
                    code="timeout",
                )
            time.sleep(delay)
            delay = min(0.5, delay * 1.5)
            image = self.client.images.get(image["id"])
        if image["status"] != "ready":
            raise ChiplabError(
                f"image {image['id']} {image['status']}: {image.get('error') or 'not ingested'}",
                code="ingest_failed",
                body=image,
            )
        return image


def _fractions(result: dict[str, Any]) -> dict[str, Any]:
    classes = result.get("classes") or []
    fractions = result.get("fractions") or []
    stds = result.get("fraction_std") or []
    rows = []
    for i, c in enumerate(classes):
        k = c.get("index", i)
        rows.append(
            {
                "class": c.get("name"),
                "fraction": fractions[k] if k < len(fractions) else None,
                "fraction_std": stds[k] if k < len(stds) else None,
            }
        )
    return {"result": result["id"], "frame": result.get("frame"), "classes": rows}
