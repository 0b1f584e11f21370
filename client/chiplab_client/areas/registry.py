"""Registry: models and their versions (promote, roll back, import) and training jobs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from .._http import FilePart, Progress, multipart
from ..jobs import TrainingJob
from ..operations import OPERATIONS, operation
from ..types import Alias, ModelSummary, ModelVersion
from ._base import Area, present


class Models(Area):
    @operation("models_list", "GET", "/api/models/")
    def list(self, *, lab: str | None = None) -> list[ModelSummary]:
        """Registered models you may use (of one lab with ``lab``), with their aliases."""
        return self._call("models_list", query={"lab": lab})

    @operation("models_retrieve", "GET", "/api/models/{name}/")
    def get(self, name: str) -> dict[str, Any]:
        """A model with its versions and the history of its aliases."""
        return self._call("models_retrieve", name=name)

    @operation("models_rollback_create", "POST", "/api/models/{name}/rollback")
    def rollback(
        self, name: str, *, alias: Alias = "champion", version: int | None = None
    ) -> dict[str, Any]:
        """Point ``alias`` back at its previous version (or at ``version``)."""
        body = present(alias=alias, version=version)
        return self._call("models_rollback_create", name=name, body=body)

    @operation("labs_champion_retrieve", "GET", "/api/labs/{lab_id}/champion")
    def champion(self, lab_id: str) -> ModelVersion:
        """The model version a lab's jobs use by default."""
        return self._call("labs_champion_retrieve", lab_id=lab_id)


class ModelVersions(Area):
    @operation("model_versions_list", "GET", "/api/model-versions/")
    def list(
        self, *, lab: str | None = None, name: str | None = None, page_size: int | None = None
    ) -> Iterator[ModelVersion]:
        return self._pages(
            "model_versions_list", query={"lab": lab, "name": name}, page_size=page_size
        )

    @operation("model_versions_retrieve", "GET", "/api/model-versions/{version_id}/")
    def get(self, version_id: str) -> ModelVersion:
        return self._call("model_versions_retrieve", version_id=version_id)

    @operation(
        "model_versions_download_retrieve", "GET", "/api/model-versions/{version_id}/download"
    )
    def download(self, version_id: str, dest: str | os.PathLike) -> Path:
        """The version's weights (a state dict) to ``dest`` (a folder: the server's name)."""
        return self._http.download(
            self._path("model_versions_download_retrieve", version_id=version_id), dest
        )

    @operation("model_versions_promote_create", "POST", "/api/model-versions/{version_id}/promote")
    def promote(
        self, version_id: str, *, alias: Alias = "champion", note: str | None = None
    ) -> ModelVersion:
        body = present(alias=alias, note=note)
        return self._call("model_versions_promote_create", version_id=version_id, body=body)

    @operation(
        "labs_model_versions_import_create", "POST", "/api/labs/{lab_id}/model-versions/import"
    )
    def import_state_dict(
        self,
        lab_id: str,
        file: str | os.PathLike,
        *,
        arch: Literal["resnet18", "resnet34", "resnet50"],
        name: str | None = None,
        input_size: int | None = None,
        layer: Literal["layer1", "layer2", "layer3", "layer4"] | None = None,
        description: str | None = None,
        progress: Progress | None = None,
    ) -> ModelVersion:
        """Register a ResNet state dict you own as a new model version of the lab."""
        path = Path(file)
        fields = present(
            arch=arch,
            name=name,
            input_size=str(input_size) if input_size is not None else None,
            layer=layer,
            description=description,
        )
        ctype, length, chunks = multipart(fields, {"file": FilePart(path.name, path)}, progress)
        response = self._http.request(
            OPERATIONS["labs_model_versions_import_create"].method,
            self._path("labs_model_versions_import_create", lab_id=lab_id),
            body=chunks,
            headers={"Content-Type": ctype, "Content-Length": str(length)},
        )
        return response.json()


class Training(Area):
    """Fine-tuning jobs of a lab's encoders on its frozen support sets."""

    @operation("labs_training_jobs_list", "GET", "/api/labs/{lab_id}/training-jobs/")
    def list(self, lab_id: str, *, page_size: int | None = None) -> Iterator[TrainingJob]:
        for data in self._pages("labs_training_jobs_list", lab_id=lab_id, page_size=page_size):
            yield TrainingJob(self, data)

    @operation("labs_training_jobs_create", "POST", "/api/labs/{lab_id}/training-jobs/")
    def create(
        self,
        lab_id: str,
        support_set_versions: list[str],
        *,
        base_version: str | None = None,
        include_public: bool | None = None,
        name: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> TrainingJob:
        """Fine-tune ``base_version`` (default: the champion) on frozen support sets; the
        new version is registered as ``challenger``."""
        body = present(
            support_set_versions=list(support_set_versions),
            base_version=base_version,
            include_public=include_public,
            name=name,
            params=params,
        )
        return TrainingJob(self, self._call("labs_training_jobs_create", lab_id=lab_id, body=body))

    @operation("training_jobs_retrieve", "GET", "/api/training-jobs/{job_id}/")
    def get(self, job_id: str) -> TrainingJob:
        return TrainingJob(self, self._call("training_jobs_retrieve", job_id=job_id))

    @operation("training_jobs_cancel_create", "POST", "/api/training-jobs/{job_id}/cancel")
    def cancel(self, job_id: str) -> TrainingJob:
        return TrainingJob(self, self._call("training_jobs_cancel_create", job_id=job_id))
