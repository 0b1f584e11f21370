"""Direct upload to the object store (S3 servers) and import in place: the upload methods of
:class:`~chiplab_client.areas.catalog.Datasets`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from .._http import Progress
from ..operations import operation
from ..types import Image
from ._base import Area, present


class DirectUploads(Area):
    @operation("datasets_uploads_list", "GET", "/api/datasets/{dataset_id}/uploads/")
    def uploads(
        self, dataset_id: str, *, status: str | None = None, page_size: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """The dataset's direct uploads (curators), newest first; ``status="uploading"``:
        the open ones."""
        return self._pages(
            "datasets_uploads_list",
            dataset_id=dataset_id,
            query={"status": status},
            page_size=page_size,
        )

    @operation("datasets_uploads_create", "POST", "/api/datasets/{dataset_id}/uploads/")
    def start_upload(self, dataset_id: str, filename: str, size: int, sha256: str) -> dict:
        """Start a direct upload: the answer has a presigned PUT URL for each part
        (``parts``: number, size, url). See :meth:`upload_direct` for the whole path."""
        body = {"filename": filename, "size": size, "sha256": sha256}
        return self._call("datasets_uploads_create", dataset_id=dataset_id, body=body)

    @operation(
        "datasets_uploads_retrieve", "GET", "/api/datasets/{dataset_id}/uploads/{upload_id}/"
    )
    def upload_state(self, dataset_id: str, upload_id: str) -> dict:
        """The upload: parts ``received`` and fresh URLs for the missing ones (``parts``)."""
        return self._call("datasets_uploads_retrieve", dataset_id=dataset_id, upload_id=upload_id)

    @operation(
        "datasets_uploads_destroy", "DELETE", "/api/datasets/{dataset_id}/uploads/{upload_id}/"
    )
    def cancel_upload(self, dataset_id: str, upload_id: str) -> None:
        """Cancel an open upload; the parts sent are deleted."""
        self._call("datasets_uploads_destroy", dataset_id=dataset_id, upload_id=upload_id)

    @operation(
        "datasets_uploads_commit_create",
        "POST",
        "/api/datasets/{dataset_id}/uploads/{upload_id}/commit",
    )
    def commit_upload(self, dataset_id: str, upload_id: str) -> dict[str, Any]:
        """Commit an upload whose parts have all arrived: the server's worker checks size and
        sha256 and makes the image (see :meth:`wait_upload`); the upload, ``committing``.
        409 ``missing_parts`` names the parts still to send."""
        return self._call(
            "datasets_uploads_commit_create", dataset_id=dataset_id, upload_id=upload_id
        )

    def wait_upload(
        self,
        dataset_id: str,
        upload_id: str,
        *,
        progress: Progress | None = None,
        timeout: float | None = None,
    ) -> Image:
        """Wait for a committed upload's check (``progress(bytes hashed, total)``): its new
        image, else ChiplabError with the upload's ``error_code`` (``sha256_mismatch``, …)."""
        from ..uploads import wait_upload

        return wait_upload(self._client, dataset_id, upload_id, progress=progress, timeout=timeout)

    def upload_direct(
        self,
        dataset_id: str,
        path: str | os.PathLike,
        *,
        parallel: int = 4,
        progress: Progress | None = None,
        checking: Progress | None = None,
        resume: bool = True,
    ) -> Image:
        """Upload a (multi-GB) file straight to the object store in parts, in parallel, then
        commit and wait for the server's check: the new image. An interrupted upload of the
        same file is resumed (only the missing parts are sent). ``progress(bytes sent,
        total)``, then ``checking(bytes hashed, total)``. Needs an S3 server."""
        from ..uploads import upload_direct

        return upload_direct(
            self._client,
            dataset_id,
            path,
            parallel=parallel,
            progress=progress,
            checking=checking,
            resume=resume,
        )

    @operation("datasets_imports_create", "POST", "/api/datasets/{dataset_id}/imports/")
    def import_objects(self, dataset_id: str, prefix: str, *, bucket: str | None = None) -> dict:
        """Import in place (curators): every object under ``prefix`` of ``bucket`` (default:
        the platform's, under ``imports/<lab id>/``) becomes an image. The answer lists the
        ``images`` made and the ``errors`` per object (key, code, message)."""
        body = present(prefix=prefix, bucket=bucket)
        return self._call("datasets_imports_create", dataset_id=dataset_id, body=body)
