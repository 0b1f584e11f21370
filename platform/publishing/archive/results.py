"""Restoring a package's results: a finished job per source job, the result rows, and their
files copied bit-exact (part of ``restore._Restorer``, kept apart for length)."""

from __future__ import annotations

import uuid

import numpy as np
from django.utils.dateparse import parse_datetime

from analysis import artefacts
from analysis.models import JobImage, JobStatus, SegmentationJob, SegmentationResult
from common import storage
from labeling.models import LabelClass


class ResultsRestoring:
    """The results half of a restorer: it needs ``package``, ``dataset``, ``user``,
    ``images``, ``support_sets``, ``classes``, ``prefix``, ``_grid`` and ``_store``."""

    # jobs and results ------------------------------------------------------------------
    def _results(self) -> tuple[list[dict], list]:
        jobs: dict[str, SegmentationJob] = {}
        entries, results = [], []
        for result in self.package.doc["results"]:
            document = self.package.result_docs[str(result["id"])]
            image = self.images[str(result["image"])]
            model = self.package.models[str((result.get("model_version") or {}).get("id"))]
            job = jobs.get(str(result.get("job")))
            if job is None:
                prov = document["provenance"]
                job = SegmentationJob.objects.create(
                    id=imported_job_id(self.dataset.pk, result.get("job")),
                    lab=self.dataset.lab,
                    created_by=self.user,
                    support_set=self.support_sets[str(result["support_set"])],
                    model_version=model,
                    params=dict(prov["params"]),
                    status=JobStatus.SUCCEEDED,
                    started=_when(prov.get("started")),
                    finished=_when(result.get("created")),
                    code_version=str(result.get("code_version") or "")[:100],
                    stage="",
                )
                jobs[str(result.get("job"))] = job
            grid_doc = document["grid"]
            offset_y, offset_x = (int(v) for v in grid_doc["offset"])
            grid = self._grid(image, int(grid_doc["chip_size"]), offset_y, offset_x)
            if not job.job_images.filter(image=image).exists():
                JobImage.objects.create(
                    job=job, image=image, grid=grid, order=job.job_images.count()
                )
            frame = int(result.get("frame") or 0)
            prefix = artefacts.result_prefix(
                lab_id=self.dataset.lab_id, job_id=job.pk, image_id=image.pk, frame=frame
            )
            files = {f["name"]: f for f in result["files"]}
            arrays_key = f"{prefix}/arrays.npz"
            if "arrays.npz" in files:
                self._store(arrays_key, self.package.files[files["arrays.npz"]["path"]])
            else:  # a package of a version published before arrays were frozen
                storage.put_bytes(arrays_key, _arrays_from_document(document))
                self.written.append(arrays_key)
            keys = {
                name: self._store(f"{prefix}/{name}", self.package.files[f["path"]])
                for name, f in files.items()
                if name != "arrays.npz"
            }
            stats = document["stats"]
            classes = self._result_classes(document)
            made = SegmentationResult.objects.create(
                job=job,
                image=image,
                frame=frame,
                grid=grid,
                rows=grid.rows,
                cols=grid.cols,
                arrays_key=arrays_key,
                classes=classes,
                counts=stats.get("counts", []),
                fractions=stats["fractions"],
                fraction_std=stats.get("fractions_std", []),
                areas=stats.get("areas"),
                area_unit=stats.get("area_unit", "") or "",
                mean_confidence=float(stats.get("mean_confidence", 0.0)),
                stats=stats,
                artefacts=keys,
                provenance={**document["provenance"], "imported_from": result["id"]},
            )
            results.append(made)
            entries.append(self._result_entry(result, made, job, model, files))
        for job in jobs.values():
            job.progress_total = job.progress_done = sum(
                r.rows * r.cols for r in results if r.job_id == job.pk
            )
            job.save(update_fields=["progress_total", "progress_done"])
        return entries, results

    def _result_classes(self, document: dict) -> list[dict]:
        """The result's class table as a job stores it (index, id, name, colour, kind), with
        the new class ids."""
        new_ids = [self.classes.get(str(c.get("id")), "") for c in document["classes"]]
        kinds = dict(
            LabelClass.objects.filter(pk__in=[i for i in new_ids if i]).values_list("pk", "kind")
        )
        return [
            {
                "index": i,
                "id": new_id,
                "name": str(c.get("name", f"class {i}")),
                "colour": str(c.get("colour", "")),
                "kind": kinds.get(uuid.UUID(new_id), "region") if new_id else "region",
            }
            for i, (c, new_id) in enumerate(zip(document["classes"], new_ids, strict=True))
        ]

    def _result_entry(self, result: dict, made, job, model, files: dict) -> dict:
        """The version's entry of an imported result: the source's provenance with the new
        ids, and copies of its files under the version's keys (bit-exact)."""
        copies = []
        for name, f in files.items():
            key = self._store(
                f"{self.prefix}/results/{made.pk}/{name}", self.package.files[f["path"]]
            )
            copies.append(
                {
                    "name": name,
                    "encoding_format": f.get("encoding_format", ""),
                    "key": key,
                    "sha256": f["sha256"],
                    "size": f["size"],
                }
            )
        return {
            **result,
            "id": str(made.pk),
            "image": str(made.image_id),
            "job": str(job.pk),
            "support_set": str(job.support_set_id),
            "model_version": {
                **(result.get("model_version") or {}),
                "id": str(model.pk),
                "source_id": (result.get("model_version") or {}).get("id"),
            },
            "files": copies,
            "imported_from": result["id"],
        }


def imported_job_id(dataset_id: uuid.UUID, source_job) -> uuid.UUID:
    """The id of the job made for the results of the package's job ``source_job``: fixed by the
    new dataset's (an import's) id, so what a restore wrote under it can be found again
    (``jobs.archive_import_sweep``) when its delivery died before the rows committed."""
    return uuid.uuid5(uuid.UUID(str(dataset_id)), f"job:{source_job}")


def _when(value):
    """A timestamp of the package, or None when it is not one."""
    try:
        return parse_datetime(str(value)) if value else None
    except ValueError:
        return None


def _arrays_from_document(document: dict) -> bytes:
    """Chip arrays rebuilt from result.json, for packages without arrays.npz: labels and
    confidence as published (confidence rounded to 6 decimals); each chip's probabilities are
    its confidence on its class and the rest shared evenly (not the full distribution, which
    such packages do not hold)."""
    labels = np.asarray(document["labels"], dtype=np.int16)
    confidence = np.asarray(document.get("confidence") or np.ones(labels.shape), np.float32)
    k = max(len(document.get("classes") or []), int(labels.max(initial=0)) + 1, 2)
    rest = ((1.0 - confidence) / (k - 1))[..., None]
    probs = np.repeat(rest, k, axis=-1).astype(np.float32)
    valid = (labels >= 0) & (labels < k)
    rows, cols = np.nonzero(valid)
    probs[rows, cols, labels[valid]] = confidence[valid]
    return artefacts.npz_bytes(labels=labels, probs=probs, confidence=confidence)
