"""Catalog: datasets, their images (uploads, originals, previews) and licences."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._http import FilePart, Progress, multipart
from ..operations import OPERATIONS, operation
from ..types import Dataset, Image, ImageStatus, Visibility
from ._base import UNSET, Area, given, present
from .archives import DatasetArchives
from .direct import DirectUploads


class Datasets(DatasetArchives, DirectUploads, Area):
    @operation("licences_list", "GET", "/api/licences/")
    def licences(self) -> list[dict[str, Any]]:
        """The licences a dataset may carry (SPDX ids)."""
        return self._call("licences_list")

    @operation("datasets_list", "GET", "/api/datasets/")
    def list(self, *, lab: str | None = None, page_size: int | None = None) -> Iterator[Dataset]:
        """Every dataset you may see (of one lab with ``lab``), following the pages."""
        return self._pages("datasets_list", query={"lab": lab}, page_size=page_size)

    @operation("datasets_create", "POST", "/api/datasets/")
    def create(
        self,
        lab: str,
        title: str,
        *,
        description: str | None = None,
        keywords: list[str] | None = None,
        licence: str | None = None,
        visibility: Visibility | None = None,
        creators: list[dict[str, str]] | None = None,
        doi: str | None = None,
        funding: list[dict[str, str]] | None = None,
    ) -> Dataset:
        """``funding``: ``[{"funder_name", "funder_identifier", "funder_identifier_type",
        "award_number", "award_title", "award_uri"}]`` (DataCite funding references)."""
        body = present(
            lab=lab,
            title=title,
            description=description,
            keywords=keywords,
            licence=licence,
            visibility=visibility,
            creators=creators,
            doi=doi,
            funding=funding,
        )
        return self._call("datasets_create", body=body)

    @operation("datasets_retrieve", "GET", "/api/datasets/{dataset_id}/")
    def get(self, dataset_id: str) -> Dataset:
        return self._call("datasets_retrieve", dataset_id=dataset_id)

    @operation("datasets_partial_update", "PATCH", "/api/datasets/{dataset_id}/")
    def update(
        self,
        dataset_id: str,
        *,
        title: str = UNSET,
        description: str = UNSET,
        keywords: list[str] = UNSET,
        licence: str = UNSET,
        visibility: Visibility = UNSET,
        creators: list[dict[str, str]] = UNSET,
        doi: str = UNSET,
        funding: list[dict[str, str]] = UNSET,
    ) -> Dataset:
        body = given(
            title=title,
            description=description,
            keywords=keywords,
            licence=licence,
            visibility=visibility,
            creators=creators,
            doi=doi,
            funding=funding,
        )
        return self._call("datasets_partial_update", dataset_id=dataset_id, body=body)

    @operation("datasets_destroy", "DELETE", "/api/datasets/{dataset_id}/")
    def delete(self, dataset_id: str) -> None:
        self._call("datasets_destroy", dataset_id=dataset_id)

    @operation("datasets_jsonld_retrieve", "GET", "/api/datasets/{dataset_id}/jsonld")
    def jsonld(self, dataset_id: str) -> dict[str, Any]:
        """The dataset's schema.org JSON-LD."""
        return self._call("datasets_jsonld_retrieve", dataset_id=dataset_id)

    # --- published versions (immutable snapshots with an RO-Crate package) -------------
    @operation("datasets_versions_list", "GET", "/api/datasets/{dataset_id}/versions/")
    def versions(self, dataset_id: str, *, page_size: int | None = None) -> Iterator[dict]:
        """The dataset's published versions, newest first."""
        return self._pages("datasets_versions_list", dataset_id=dataset_id, page_size=page_size)

    @operation("datasets_versions_create", "POST", "/api/datasets/{dataset_id}/versions/")
    def publish(
        self,
        dataset_id: str,
        *,
        note: str | None = None,
        support_sets: list[str] | None = None,
        results: list[str] | None = None,
    ) -> dict[str, Any]:
        """Publish the next version (curators): the metadata and ready images as they are now,
        with the given frozen support sets and results. A version never changes."""
        body = present(note=note, support_sets=support_sets, results=results)
        return self._call("datasets_versions_create", dataset_id=dataset_id, body=body)

    @operation(
        "datasets_versions_latest_retrieve", "GET", "/api/datasets/{dataset_id}/versions/latest"
    )
    def latest_version(self, dataset_id: str) -> dict[str, Any]:
        """The dataset's newest version (404 ``no_version`` before the first)."""
        return self._call("datasets_versions_latest_retrieve", dataset_id=dataset_id)

    @operation("dataset_versions_retrieve", "GET", "/api/dataset-versions/{version_id}/")
    def version(self, version_id: str) -> dict[str, Any]:
        return self._call("dataset_versions_retrieve", version_id=version_id)

    @operation(
        "dataset_versions_jsonld_retrieve", "GET", "/api/dataset-versions/{version_id}/jsonld"
    )
    def version_jsonld(self, version_id: str) -> dict[str, Any]:
        """The version's schema.org JSON-LD."""
        return self._call("dataset_versions_jsonld_retrieve", version_id=version_id)

    @operation(
        "dataset_versions_crate_metadata_retrieve",
        "GET",
        "/api/dataset-versions/{version_id}/ro-crate-metadata.json",
    )
    def crate_metadata(self, version_id: str) -> dict[str, Any]:
        """The version's ``ro-crate-metadata.json``."""
        return self._call("dataset_versions_crate_metadata_retrieve", version_id=version_id)

    @operation(
        "dataset_versions_crate_retrieve", "GET", "/api/dataset-versions/{version_id}/ro-crate.zip"
    )
    def download_crate(
        self, version_id: str, dest: str | os.PathLike, *, progress: Progress | None = None
    ) -> Path:
        """The version's RO-Crate 1.2 package (zip) to ``dest`` (a folder: under its own name)."""
        return self._http.download(
            self._path("dataset_versions_crate_retrieve", version_id=version_id),
            dest,
            progress=progress,
        )

    # --- DOIs and citations ---------------------------------------------------------------
    @operation(
        "dataset_versions_datacite_retrieve",
        "GET",
        "/api/dataset-versions/{version_id}/datacite.json",
    )
    def version_datacite(self, version_id: str) -> dict[str, Any]:
        """The version's DataCite metadata (the REST API's JSON attributes, kernel-4)."""
        return self._call("dataset_versions_datacite_retrieve", version_id=version_id)

    @operation("dataset_versions_doi_create", "POST", "/api/dataset-versions/{version_id}/doi")
    def mint_doi(self, version_id: str) -> dict[str, Any]:
        """Register the version's DOI with DataCite and make it findable (curators, public
        datasets). 409 ``doi_not_configured`` when the server has no DataCite account."""
        return self._call("dataset_versions_doi_create", version_id=version_id)

    @operation(
        "dataset_versions_citation_csl_retrieve",
        "GET",
        "/api/dataset-versions/{version_id}/citation.json",
    )
    def citation_csl(self, version_id: str) -> list[dict[str, Any]]:
        """How to cite the version, as CSL-JSON (a list of one item)."""
        return self._call("dataset_versions_citation_csl_retrieve", version_id=version_id)

    @operation(
        "dataset_versions_citation_bibtex_retrieve",
        "GET",
        "/api/dataset-versions/{version_id}/citation.bib",
    )
    def citation_bibtex(self, version_id: str) -> str:
        """How to cite the version, as a BibTeX entry."""
        path = self._path("dataset_versions_citation_bibtex_retrieve", version_id=version_id)
        response = self._http.request("GET", path, headers={"Accept": "application/x-bibtex"})
        return response.read().decode("utf-8")


class Images(Area):
    @operation("datasets_images_list", "GET", "/api/datasets/{dataset_id}/images/")
    def list(
        self,
        dataset_id: str,
        *,
        status: ImageStatus | None = None,
        page_size: int | None = None,
    ) -> Iterator[Image]:
        """Every image of a dataset, following the pages."""
        return self._pages(
            "datasets_images_list",
            dataset_id=dataset_id,
            query={"status": status},
            page_size=page_size,
        )

    @operation("datasets_images_create", "POST", "/api/datasets/{dataset_id}/images/")
    def upload(
        self,
        dataset_id: str,
        file: str | os.PathLike | bytes,
        *,
        filename: str | None = None,
        progress: Progress | None = None,
    ) -> Image:
        """Upload a micrograph (jpg, png, tiff, dm3, dm4), streamed from disk.

        ``progress(sent, total)`` is called as the bytes go out. The answer is the new image,
        ``pending`` until a worker has ingested it. A file already in the dataset (same
        sha256) is refused with a 409 ``duplicate``.
        """
        if isinstance(file, bytes):
            if not filename:
                raise ValueError("filename is needed with bytes")
            source: Path | bytes = file
        else:
            source = Path(file)
            filename = filename or source.name
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        ctype, length, chunks = multipart(
            {}, {"file": FilePart(filename, source, content_type)}, progress
        )
        response = self._http.request(
            OPERATIONS["datasets_images_create"].method,
            self._path("datasets_images_create", dataset_id=dataset_id),
            body=chunks,
            headers={"Content-Type": ctype, "Content-Length": str(length)},
        )
        return response.json()

    @operation("images_retrieve", "GET", "/api/images/{image_id}/")
    def get(self, image_id: str) -> Image:
        """One image with its metadata (``metadata_raw``: what the file's tags said)."""
        return self._call("images_retrieve", image_id=image_id)

    @operation("images_partial_update", "PATCH", "/api/images/{image_id}/")
    def set_calibration(
        self, image_id: str, pixel_size: float | None, pixel_unit: str | None = None
    ) -> Image:
        """Set the pixel size by hand (curators); ``None`` goes back to the file's own."""
        body = {"pixel_size": pixel_size, **present(pixel_unit=pixel_unit)}
        return self._call("images_partial_update", image_id=image_id, body=body)

    @operation("images_destroy", "DELETE", "/api/images/{image_id}/")
    def delete(self, image_id: str) -> None:
        self._call("images_destroy", image_id=image_id)

    @operation("images_original_retrieve", "GET", "/api/images/{image_id}/original")
    def download_original(
        self, image_id: str, dest: str | os.PathLike, *, progress: Progress | None = None
    ) -> Path:
        """The original file, bit-exact, to ``dest`` (a folder: under its own name)."""
        return self._http.download(
            self._path("images_original_retrieve", image_id=image_id), dest, progress=progress
        )

    @operation("images_ome_zarr_retrieve", "GET", "/api/images/{image_id}/ome-zarr")
    def download_ome_zarr(
        self, image_id: str, dest: str | os.PathLike, *, progress: Progress | None = None
    ) -> Path:
        """The original's pixels as OME-Zarr (one zip, every frame, physical pixel size) to
        ``dest`` (a folder: under the server's name)."""
        return self._http.download(
            self._path("images_ome_zarr_retrieve", image_id=image_id), dest, progress=progress
        )

    @operation("images_preview_retrieve", "GET", "/api/images/{image_id}/preview")
    def preview(self, image_id: str, *, frame: int | None = None) -> bytes:
        """The percentile-stretched preview PNG (of one frame of a time series)."""
        return self._http.content(
            self._path("images_preview_retrieve", image_id=image_id), query={"frame": frame}
        )

    @operation("images_tiles_index", "GET", "/api/images/{image_id}/tiles")
    def tiles(self, image_id: str) -> dict[str, Any]:
        """The full-resolution tiles of frame 0: tile size and levels (none: small image)."""
        return self._call("images_tiles_index", image_id=image_id)

    @operation("images_tile_retrieve", "GET", "/api/images/{image_id}/tiles/{z}/{row}/{col}")
    def tile(self, image_id: str, z: int, row: int, col: int) -> bytes:
        """One 8-bit PNG tile of level ``z`` (downscaled by 2^z) at (row, col)."""
        path = self._path("images_tile_retrieve", image_id=image_id, z=z, row=row, col=col)
        return self._http.content(path)

    @operation("images_thumbnail_retrieve", "GET", "/api/images/{image_id}/thumbnail")
    def thumbnail(self, image_id: str) -> bytes:
        return self._http.content(self._path("images_thumbnail_retrieve", image_id=image_id))

    @operation(
        "images_chip_size_suggestion_retrieve", "GET", "/api/images/{image_id}/chip-size-suggestion"
    )
    def chip_size_suggestion(self, image_id: str) -> dict[str, Any]:
        """A chip size from the image's periodicity, with the reasons."""
        return self._call("images_chip_size_suggestion_retrieve", image_id=image_id)
