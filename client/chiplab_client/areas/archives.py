"""Dataset packages: export a version as the archive another Chiplab imports, and import one
(the server's worker checks and restores it; the client waits on the import's status)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._http import FilePart, Progress, multipart
from ..operations import OPERATIONS, operation
from ..types import Visibility
from ..waiting import failure, poll
from ._base import Area, present

#: statuses of an import after which nothing changes
IMPORT_FINISHED = frozenset({"succeeded", "failed", "cancelled"})


class DatasetArchives(Area):
    """The archive methods of :class:`~chiplab_client.areas.catalog.Datasets`."""

    download_crate: Callable[..., Path]  # Datasets'

    def export_archive(
        self, version_id: str, dest: str | os.PathLike, *, progress: Progress | None = None
    ) -> Path:
        """Export a version as the package another Chiplab imports (its RO-Crate zip) to
        ``dest`` (a file, or a folder: under the server's name); see :meth:`import_archive`."""
        return self.download_crate(version_id, dest, progress=progress)

    @operation("dataset_archives_create", "POST", "/api/dataset-archives/")
    def import_archive(
        self,
        file: str | os.PathLike,
        *,
        lab: str,
        visibility: Visibility | None = None,
        with_results: bool = True,
        progress: Progress | None = None,
        wait: bool = True,
        checking: Callable[[dict[str, Any]], None] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Import a version's package (from :meth:`export_archive`, here or on another
        Chiplab) as a new dataset of ``lab`` (curators); ``progress(bytes sent, total)``.

        The server's worker checks every file against its sha256, then restores the dataset;
        with ``wait`` (default) this waits for it (``checking(state)`` after every poll) and
        answers the finished import: the new ``dataset``, its ``version`` 1 (the package as
        imported), counts of ``images``, ``support_sets`` and ``results``, and the ``source``
        version. A refused package raises ChiplabError with the import's ``error_code``
        (``checksum_mismatch``, ``model_unavailable``, …) and nothing is stored.
        ``with_results=False`` leaves out results whose model versions this server lacks.
        Without ``wait``: the queued import (see :meth:`wait_archive_import`)."""
        source = Path(file)
        fields = present(lab=str(lab), visibility=visibility, with_results=with_results)
        ctype, length, chunks = multipart(
            fields, {"file": FilePart(source.name, source, "application/zip")}, progress
        )
        response = self._http.request(
            OPERATIONS["dataset_archives_create"].method,
            self._path("dataset_archives_create"),
            body=chunks,
            headers={"Content-Type": ctype, "Content-Length": str(length)},
        )
        state = response.json()
        if not wait:
            return state
        return self.wait_archive_import(
            state["id"], state=state, progress=checking, timeout=timeout
        )

    @operation("dataset_archives_retrieve", "GET", "/api/dataset-archives/{import_id}/")
    def archive_import(self, import_id: str) -> dict[str, Any]:
        """An import: ``status``, ``stage`` (checking, restoring), ``done_bytes`` of
        ``total_bytes`` checked, then the ``dataset`` and ``version``, or the ``error``."""
        return self._call("dataset_archives_retrieve", import_id=import_id)

    def wait_archive_import(
        self,
        import_id: str,
        *,
        state: dict[str, Any] | None = None,
        progress: Callable[[dict[str, Any]], None] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Poll the import until it has finished (``progress(state)`` after every poll): the
        succeeded import, else ChiplabError with its ``error_code``."""
        done = poll(
            lambda: self.archive_import(import_id),
            finished=lambda s: s.get("status") in IMPORT_FINISHED,
            sleep=self._http.sleep,
            what=f"Import {import_id}",
            state=state,
            on_state=progress,
            timeout=timeout,
        )
        if done.get("status") != "succeeded":
            raise failure(done, f"Import {import_id}", "import_failed")
        return done
