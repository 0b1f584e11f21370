"""Restoring a checked package (``package.Package``) as a new dataset, in one transaction."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.core.files import File
from django.db import transaction
from django.utils import timezone

from accounts.models import Lab
from catalog import services
from catalog.formats.units import calibration
from catalog.models import Dataset, DatasetVersion, Image
from common import storage
from labeling.models import ClassKind, LabelClass, LabelSchema, SupportSetVersion
from labeling.services import grid_restore
from labeling.services.schemas import class_room_check

from .. import versions
from .annotations import Annotations, restore_annotations
from .package import Package
from .results import ResultsRestoring

_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass
class ArchiveImport:
    """What an import made."""

    dataset: Dataset
    version: DatasetVersion
    images: int
    support_sets: int
    results: int
    source: dict

    def summary(self) -> dict:
        """The counts and the source, as an import's status records them."""
        return {
            "images": self.images,
            "support_sets": self.support_sets,
            "results": self.results,
            "source": self.source,
        }


def restore(
    package: Package,
    *,
    user,
    lab: Lab,
    visibility: str,
    annotations: Annotations | None = None,
    dataset_id=None,
) -> ArchiveImport:
    """The package as a new dataset of ``lab`` (with id ``dataset_id`` when given), its
    images tagged with ``annotations`` (checked by ``check_annotations``)."""
    doc, meta = package.doc, package.doc["version"]
    source = {
        "version": str(meta.get("id", "")),
        "number": meta.get("number"),
        "persistent_url": str(meta.get("persistent_url", "")),
        "doi": str(meta.get("doi") or ""),
        "dataset": str((doc.get("dataset") or {}).get("id", "")),
        "lab": str((doc.get("lab") or {}).get("name", "")),
        "imported": timezone.now().isoformat(),
    }
    written: list[str] = []
    try:
        with transaction.atomic():
            dataset = services.dataset_create(
                user=user,
                lab=lab,
                title=str(meta.get("title") or "Imported dataset")[:300],
                description=str(meta.get("description") or ""),
                keywords=list(meta.get("keywords") or []),
                licence=str(meta.get("licence") or ""),
                visibility=visibility,
                creators=list(meta.get("creators") or []),
                funding=list(meta.get("funding") or []),
                **({"id": dataset_id} if dataset_id else {}),
            )
            restorer = _Restorer(package, user=user, dataset=dataset, written=written)
            version = restorer.run(source)
            restore_annotations(annotations or {}, images=restorer.images, user=user)
    except BaseException:
        for key in written:
            storage.delete(key)
        raise
    return ArchiveImport(
        dataset=dataset,
        version=version,
        images=len(doc["images"]),
        support_sets=len(doc["support_sets"]),
        results=len(doc["results"]),
        source=source,
    )


class _Restorer(ResultsRestoring):
    """The rows and objects of one import (inside its transaction); ``written`` collects the
    keys stored, for the caller to delete if the import fails."""

    def __init__(self, package: Package, *, user, dataset: Dataset, written: list[str]):
        self.package, self.user, self.dataset, self.written = package, user, dataset, written
        self.images: dict[str, Image] = {}  # source id -> new image
        self.classes: dict[str, str] = {}  # source class id -> new class id
        self.support_sets: dict[str, object] = {}  # source id -> new SupportSetVersion
        self.grids: dict[tuple, object] = {}
        self.version_id = uuid.uuid4()
        self.prefix = versions.version_prefix(dataset, self.version_id)

    def _store(self, key: str, path: Path) -> str:
        with path.open("rb") as fh:
            storage.put(key, File(fh, name=Path(key).name))
        self.written.append(key)
        return key

    def run(self, source: dict) -> DatasetVersion:
        doc = self.package.doc
        image_entries = [self._image(entry, source) for entry in doc["images"]]
        set_entries = [self._support_set(entry) for entry in doc["support_sets"]]
        result_entries, results = self._results()
        meta = doc["version"]
        origin = f"doi:{source['doi']}" if source["doi"] else source["persistent_url"]
        manifest = {
            "lab": {"id": str(self.dataset.lab_id), "name": self.dataset.lab.name},
            "dataset": {"id": str(self.dataset.pk), "created": self.dataset.created.isoformat()},
            "images": image_entries,
            "support_sets": set_entries,
            "results": result_entries,
            "source": source,
        }
        version = DatasetVersion.objects.create(
            id=self.version_id,
            dataset=self.dataset,
            number=1,
            note=(
                f"Imported from version {meta.get('number')} ({origin})"
                + (f": {meta['note']}" if meta.get("note") else "")
            )[: versions.MAX_NOTE_CHARS],
            title=self.dataset.title,
            description=self.dataset.description,
            keywords=list(self.dataset.keywords),
            licence=self.dataset.licence,
            creators=list(self.dataset.creators),
            funding=list(self.dataset.funding),
            manifest=manifest,
            created_by=self.user,
        )
        version.images.set(self.images.values())
        version.support_sets.set(self.support_sets.values())
        version.results.set(results)
        return version

    # images ----------------------------------------------------------------------------
    def _image(self, entry: dict, source: dict) -> dict:
        path = self.package.files[entry["path"]]
        probe = self.package.probes[str(entry["id"])]
        filename = Path(str(entry.get("filename") or "original")).name[:255]
        image_id = uuid.uuid4()
        key = (
            f"labs/{self.dataset.lab_id}/datasets/{self.dataset.pk}/images/{image_id}/"
            f"original{Path(filename).suffix.lower()}"
        )
        self._store(key, path)
        image = services.image_register(
            user=self.user,
            dataset=self.dataset,
            image_id=image_id,
            filename=filename,
            key=key,
            size=int(entry["size"]),
            sha256=str(entry["sha256"]),
            probe=probe,
        )
        fields = {"instrument": dict(entry.get("instrument") or {})}
        if entry.get("pixel_size"):
            # the published pixel size: kept by the ingest where the file says otherwise
            cal = calibration(float(entry["pixel_size"]), entry.get("pixel_unit"), source="manual")
            cal["imported_from"] = source["persistent_url"]
            fields.update(
                calibration=cal,
                pixel_size=cal.get("pixel_size"),
                pixel_unit=cal.get("pixel_unit") or "",
            )
        Image.objects.filter(pk=image.pk).update(**fields)
        image.refresh_from_db()
        self.images[str(entry["id"])] = image
        return versions._image_entry(image) | {
            "pixel_size": entry.get("pixel_size"),
            "pixel_unit": entry.get("pixel_unit") or "",
            "instrument": dict(entry.get("instrument") or {}),
        }

    def _grid(self, image: Image, chip_size: int, offset_y: int, offset_x: int):
        key = (image.pk, chip_size, offset_y, offset_x)
        if key not in self.grids:
            self.grids[key] = grid_restore(
                user=self.user,
                image=image,
                chip_size=chip_size,
                offset_x=offset_x,
                offset_y=offset_y,
            )
        return self.grids[key]

    # label schemas, classes and support sets -------------------------------------------
    def _schema(self, support: dict):
        name = str(support["schema"]["name"])[:200]
        schema = self.dataset.schemas.filter(name=name).first()
        if schema is None:
            schema = LabelSchema.objects.create(
                dataset=self.dataset,
                name=name,
                is_default=not self.dataset.schemas.exists(),
                created_by=self.user,
            )
        order = schema.classes.count()
        for c in support["classes"]:
            if str(c["id"]) in self.classes:
                continue
            # a class of the same name (another support set of the schema) is the same class
            made = schema.classes.filter(name=str(c["name"])[:100], removed_at=None).first()
            if made is None:
                class_room_check(schema)
                colour = str(c.get("colour") or "")
                made = LabelClass.objects.create(
                    schema=schema,
                    name=str(c["name"])[:100],
                    colour=colour if _COLOUR.fullmatch(colour) else "#888888",
                    kind=_kind(c),
                    order=order,
                )
                order += 1
            self.classes[str(c["id"])] = str(made.pk)
        return schema

    def _support_set(self, entry: dict) -> dict:
        support = self.package.support_docs[str(entry["id"])]
        schema = self._schema(support)
        chip_size = int(support["chip_size"])
        offset_y, offset_x = (int(v) for v in support["offset"])
        chips, grids = [], {}
        for chip in support["chips"]:
            image = self.images[str(chip["image"])]
            grid = self._grid(image, chip_size, offset_y, offset_x)
            grids[grid.pk] = grid
            chips.append(
                {
                    "grid": str(grid.pk),
                    "image": str(image.pk),
                    "row": int(chip["row"]),
                    "col": int(chip["col"]),
                    "class": self.classes[str(chip["class"])],
                }
            )
        classes = [
            {
                "id": self.classes[str(c["id"])],
                "name": str(c["name"]),
                "colour": str(c.get("colour") or ""),
                "kind": _kind(c),
            }
            for c in support["classes"]
        ]
        number = int(support["number"])
        if schema.versions.filter(number=number).exists():
            number = schema.versions.order_by("-number").first().number + 1
        version = SupportSetVersion.objects.create(
            schema=schema,
            number=number,
            rule=str(support.get("rule") or "single_owner"),
            params=dict(support.get("params") or {}),
            chips=chips,
            classes=classes,
            chip_size=chip_size,
            offset_x=offset_x,
            offset_y=offset_y,
            contributors=[],  # the package counts them, never names them
            agreement=dict(support.get("agreement") or {}),
            warnings=[
                f"Imported from support set {support['id']} ({support.get('n_contributors', 0)} "
                "contributors, not named in the package)."
            ],
            created_by=self.user,
        )
        version.grids.set(grids.values())
        self.support_sets[str(entry["id"])] = version
        document = {
            **support,
            "id": str(version.pk),
            "schema": {"id": str(schema.pk), "name": schema.name},
            "number": version.number,
            "classes": classes,
            "chips": chips,
            "imported_from": {"id": support["id"], "sha256": entry["sha256"]},
        }
        data = json.dumps(document, indent=1, sort_keys=True).encode()
        key = f"{self.prefix}/support-sets/{version.pk}.json"
        storage.put_bytes(key, data)
        self.written.append(key)
        return {
            **{k: entry[k] for k in ("name", "n_chips", "classes", "created") if k in entry},
            "id": str(version.pk),
            "number": version.number,
            "key": key,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
        }


def _kind(c: dict) -> str:
    kind = str(c.get("kind") or "")
    return kind if kind in ClassKind.values else ClassKind.REGION
