"""Analysis: segmentation jobs, their results and the results' exports."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ..jobs import SegmentationJob
from ..operations import operation
from ..types import JobStatus, Result, Rule
from ._base import Area, present

#: every export a result can have (series.csv: time series; particles.csv, particles.json,
#: instances.png and histogram.svg/png: object classes; mask.ome.zarr.zip: OME-Zarr in a zarr
#: ZipStore)
EXPORT_KINDS = (
    "overlay.png",
    "mask.png",
    "confidence.png",
    "mask.ome.tif",
    "coco.json",
    "counts.csv",
    "result.json",
    "chart.svg",
    "chart.png",
    "series.csv",
    "particles.csv",
    "profile.csv",
    "particles.json",
    "instances.png",
    "histogram.svg",
    "histogram.png",
    "mask.ome.zarr.zip",
)


class SegmentationJobs(Area):
    @operation("segmentation_jobs_list", "GET", "/api/segmentation-jobs/")
    def list(
        self,
        *,
        image: str | None = None,
        grid: str | None = None,
        lab: str | None = None,
        status: JobStatus | Iterable[JobStatus] | None = None,
        page_size: int | None = None,
    ) -> Iterator[SegmentationJob]:
        """Jobs you may see, newest first; ``status=["queued", "running"]``: unfinished."""
        if status is not None and not isinstance(status, str):
            status = ",".join(status)
        query = {"image": image, "grid": grid, "lab": lab, "status": status}
        for data in self._pages("segmentation_jobs_list", query=query, page_size=page_size):
            yield SegmentationJob(self, data)

    @operation("segmentation_jobs_create", "POST", "/api/segmentation-jobs/")
    def create(
        self,
        images: Iterable[str] | None = None,
        *,
        dataset: str | None = None,
        support_set: str | None = None,
        schema: str | None = None,
        rule: Rule | None = None,
        owner: str | None = None,
        min_votes: int | None = None,
        model_version: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> SegmentationJob:
        """Segment ``images`` (ids) or every image of ``dataset``.

        With a frozen ``support_set`` version, or with ``schema`` (+ ``rule``) to freeze the
        schema's current votes now. ``model_version``: default the lab's champion.
        ``params``: seed, bootstrap, temperature, refine, smooth, boundary, weighting.
        """
        if (images is None) == (dataset is None):
            raise ValueError("give either images or dataset")
        body = present(
            images=list(images) if images is not None else {"dataset": dataset},
            support_set=support_set,
            schema=schema,
            rule=rule,
            owner=owner,
            min_votes=min_votes,
            model_version=model_version,
            params=params,
        )
        return SegmentationJob(self, self._call("segmentation_jobs_create", body=body))

    @operation("segmentation_jobs_overview_list", "GET", "/api/segmentation-jobs/overview/")
    def overview(
        self,
        *,
        who: str = "me",
        dataset: str | None = None,
        status: JobStatus | Iterable[JobStatus] | None = None,
        page_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Your jobs across images and datasets (``who="lab"``: every job you can see), newest
        first, each with its first images, datasets, times and ``duration_s``."""
        if status is not None and not isinstance(status, str):
            status = ",".join(status)
        query = {"who": who, "dataset": dataset, "status": status}
        return self._pages("segmentation_jobs_overview_list", query=query, page_size=page_size)

    @operation("segmentation_jobs_retrieve", "GET", "/api/segmentation-jobs/{job_id}/")
    def get(self, job_id: str) -> SegmentationJob:
        return SegmentationJob(self, self._call("segmentation_jobs_retrieve", job_id=job_id))

    @operation("segmentation_jobs_cancel_create", "POST", "/api/segmentation-jobs/{job_id}/cancel")
    def cancel(self, job_id: str) -> SegmentationJob:
        return SegmentationJob(self, self._call("segmentation_jobs_cancel_create", job_id=job_id))

    @operation("segmentation_jobs_rerun_create", "POST", "/api/segmentation-jobs/{job_id}/rerun")
    def rerun(self, job_id: str) -> SegmentationJob:
        return SegmentationJob(self, self._call("segmentation_jobs_rerun_create", job_id=job_id))


class Results(Area):
    @operation("segmentation_results_retrieve", "GET", "/api/segmentation-results/{result_id}/")
    def get(self, result_id: str) -> dict[str, Any]:
        """A result with its label and confidence grids, statistics and provenance."""
        return self._call("segmentation_results_retrieve", result_id=result_id)

    @operation("images_results_list", "GET", "/api/images/{image_id}/results/")
    def of_image(self, image_id: str, *, page_size: int | None = None) -> Iterator[Result]:
        """Every segmentation of an image, newest first."""
        return self._pages("images_results_list", image_id=image_id, page_size=page_size)

    @operation(
        "segmentation_results_compare_retrieve",
        "GET",
        "/api/segmentation-results/{result_id}/compare/{other_id}",
    )
    def compare(self, result_id: str, other_id: str) -> dict[str, Any]:
        """Two results of one image: the map of chips (or pixels, on different grids) whose
        class differs, ``differing`` / ``compared``, a confusion table and fraction deltas."""
        return self._call(
            "segmentation_results_compare_retrieve", result_id=result_id, other_id=other_id
        )

    @operation("datasets_results_retrieve", "GET", "/api/datasets/{dataset_id}/results/")
    def of_dataset(
        self,
        dataset_id: str,
        *,
        q: str | None = None,
        results: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> dict[str, Any]:
        """One page of the dataset's results table: per image its latest result's fractions
        (with intervals), chips and objects per class, and ``aggregate`` (per class the mean
        fraction across the filtered images and its spread). ``results``: all, with,
        without; ``sort``: e.g. ``-fraction:Ge``."""
        query = {"q": q, "results": results, "sort": sort, "limit": limit, "offset": offset}
        return self._call("datasets_results_retrieve", dataset_id=dataset_id, query=query)

    @operation("datasets_results_csv_retrieve", "GET", "/api/datasets/{dataset_id}/results.csv")
    def dataset_csv(
        self,
        dataset_id: str,
        *,
        q: str | None = None,
        results: str | None = None,
        sort: str | None = None,
    ) -> str:
        """The whole (filtered, sorted) results table as CSV text, one line per image and
        class."""
        path = self._path("datasets_results_csv_retrieve", dataset_id=dataset_id)
        return self._http.content(path, query={"q": q, "results": results, "sort": sort}).decode()

    @operation(
        "dataset_versions_results_rederive_create",
        "POST",
        "/api/dataset-versions/{version_id}/results/{result_id}/rederive",
    )
    def rederive(self, version_id: str, result_id: str) -> dict[str, Any]:
        """Re-run a published result from its dataset version's provenance alone: a report
        with ``identical`` (chip labels, pixel mask and fractions bit-identical) and details."""
        return self._call(
            "dataset_versions_results_rederive_create", version_id=version_id, result_id=result_id
        )

    @operation(
        "segmentation_results_thumbnail_retrieve",
        "GET",
        "/api/segmentation-results/{result_id}/thumbnail",
    )
    def thumbnail(self, result_id: str, *, size: int | None = None) -> bytes:
        """The chip map as a small PNG (long side at most ``size`` px, 16-256, default 96)."""
        path = self._path("segmentation_results_thumbnail_retrieve", result_id=result_id)
        return self._http.content(path, query=present(size=size))

    @operation(
        "segmentation_results_profile_retrieve",
        "GET",
        "/api/segmentation-results/{result_id}/profile",
    )
    def profile(self, result_id: str, *, angle: float, band: int | None = None) -> dict[str, Any]:
        """Class fractions of the pixel map in bands across a direction (``angle``: degrees
        anticlockwise from the x axis on screen; 0 left to right, -90 top to bottom) and the
        interfaces along it, in the image's unit when calibrated."""
        return self._call(
            "segmentation_results_profile_retrieve",
            result_id=result_id,
            query=present(angle=angle, band=band),
        )

    @operation(
        "segmentation_results_export_retrieve",
        "GET",
        "/api/segmentation-results/{result_id}/export/{kind}",
    )
    def export(self, result_id: str, kind: str) -> bytes:
        """One export's bytes (``kind``: one of :data:`EXPORT_KINDS`)."""
        path = self._path("segmentation_results_export_retrieve", result_id=result_id, kind=kind)
        return self._http.content(path)

    @operation(
        "segmentation_results_export_retrieve",
        "GET",
        "/api/segmentation-results/{result_id}/export/{kind}",
    )
    def download_export(self, result_id: str, kind: str, dest: str | os.PathLike) -> Path:
        """One export to ``dest`` (a folder: under the server's file name)."""
        path = self._path("segmentation_results_export_retrieve", result_id=result_id, kind=kind)
        return self._http.download(path, dest)

    def download_job(
        self,
        job_id: str,
        out_dir: str | os.PathLike,
        *,
        kinds: Iterable[str] | None = None,
        on_file: Callable[[Path], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Every export of every result of a job, to ``out_dir/<result id>/``.

        Returns the job's results, each with ``files`` (the paths written). ``kinds``
        restricts the exports fetched.
        """
        wanted = set(kinds) if kinds is not None else None
        job = self._client.jobs.get(job_id)
        out = Path(out_dir)
        results = []
        for result in job.results:
            folder = out / result["id"]
            folder.mkdir(parents=True, exist_ok=True)
            files = []
            for kind in result.get("links", {}):
                if kind == "self" or (wanted is not None and kind not in wanted):
                    continue
                path = self.download_export(result["id"], kind, folder)
                files.append(path)
                if on_file is not None:
                    on_file(path)
            results.append({**result, "files": files})
        return results
