"""What each event says: its lab and a small JSON ``data`` built from the row after commit.

Builders load the object by id (the state that was committed) and return ``(lab_id, data)``,
or ``None`` when there is nothing to tell (the row is gone, it has no lab).
"""

from collections.abc import Callable

from django.apps import apps

from .models import Event


def _image(pk, **_):
    image = apps.get_model("catalog", "Image").objects.select_related("dataset").filter(pk=pk)
    image = image.first()
    if image is None:
        return None
    return image.dataset.lab_id, {
        "image": str(image.pk),
        "dataset": str(image.dataset_id),
        "filename": image.original_filename,
        "status": image.status,
        "error": image.error[:500],
    }


def _segmentation_job(pk, **_):
    job = apps.get_model("analysis", "SegmentationJob").objects.filter(pk=pk).first()
    if job is None:
        return None
    return job.lab_id, {
        "job": str(job.pk),
        "status": job.status,
        "error": job.error[:500],
        "support_set": str(job.support_set_id),
        "model_version": str(job.model_version_id),
        "finished": job.finished.isoformat() if job.finished else None,
    }


def _training_job(pk, **_):
    job = apps.get_model("registry", "TrainingJob").objects.filter(pk=pk).first()
    if job is None:
        return None
    version = job.result_version
    return job.lab_id, {
        "job": str(job.pk),
        "status": job.status,
        "error": job.error[:500],
        "model_version": (
            {"id": str(version.pk), "name": version.name, "version": version.version}
            if version
            else None
        ),
    }


def _model_version(pk, *, alias: str = "champion", **_):
    version = apps.get_model("registry", "ModelVersion").objects.filter(pk=pk).first()
    if version is None or version.lab_id is None:
        return None  # built-in models belong to no lab
    return version.lab_id, {
        "model_version": str(version.pk),
        "name": version.name,
        "version": version.version,
        "alias": alias,
    }


def _support_set(pk, **_):
    version = (
        apps.get_model("labeling", "SupportSetVersion")
        .objects.select_related("schema__dataset")
        .filter(pk=pk)
        .first()
    )
    if version is None:
        return None
    return version.schema.dataset.lab_id, {
        "support_set": str(version.pk),
        "number": version.number,
        "schema": str(version.schema_id),
        "dataset": str(version.schema.dataset_id),
    }


BUILDERS: dict[str, Callable] = {
    Event.IMAGE_READY: _image,
    Event.IMAGE_FAILED: _image,
    Event.JOB_SUCCEEDED: _segmentation_job,
    Event.JOB_FAILED: _segmentation_job,
    Event.TRAINING_FINISHED: _training_job,
    Event.MODEL_PROMOTED: _model_version,
    Event.SUPPORT_SET_FROZEN: _support_set,
}
