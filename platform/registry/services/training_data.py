"""Training data: the support sets' chips, decoded once, and the held-out split."""

from __future__ import annotations

import numpy as np

from catalog.models import Image
from catalog.services import original_pixels
from common.provenance import code_version
from workers.fewshot.chipping import ChipGrid

from ..models import TrainingJob
from .training import support_set_model


def load_support_sets(job: TrainingJob) -> tuple[list, dict]:
    """Decode each image once; return [(image, grid, {class: [(r, c)]}, set id)] + lineage."""
    sets = list(
        support_set_model()
        .objects.filter(pk__in=job.support_set_versions)
        .select_related("schema__dataset__lab")
    )
    if len(sets) != len(job.support_set_versions):
        raise ValueError("a support-set version of this job no longer exists")
    image_ids = {str(chip["image"]) for s in sets for chip in s.chips}
    images = {
        str(i.pk): i for i in Image.objects.filter(pk__in=image_ids).select_related("dataset__lab")
    }
    arrays: dict[str, np.ndarray] = {}
    for iid, image in images.items():
        data = original_pixels(image)
        arrays[iid] = np.asarray(data[0] if data.ndim == 3 else data, dtype=np.float32)
    class_index: dict[tuple[str, str], int] = {}
    out = []
    for s in sets:
        by_image: dict[str, dict[int, list[tuple[int, int]]]] = {}
        for chip in s.chips:
            key = (str(s.pk), str(chip["class"]))
            cls = class_index.setdefault(key, len(class_index))
            by_image.setdefault(str(chip["image"]), {}).setdefault(cls, []).append(
                (int(chip["row"]), int(chip["col"]))
            )
        for iid, support in by_image.items():
            if iid not in arrays:
                raise ValueError(f"image {iid} of support set {s.pk} no longer exists")
            grid = ChipGrid.for_shape(arrays[iid].shape, s.chip_size, (s.offset_y, s.offset_x))
            out.append((arrays[iid], grid, support, str(s.pk)))
    names = {str(c["id"]): c["name"] for s in sets for c in (s.classes or [])}
    lineage = {
        "support_set_versions": [
            {
                "id": str(s.pk),
                "number": s.number,
                "schema": str(s.schema_id),
                "dataset": str(s.schema.dataset_id),
                "lab": s.schema.dataset.lab.slug,
                "licence": s.schema.dataset.licence,
                "rule": s.rule,
                "chip_size": s.chip_size,
                "chips": len(s.chips),
                "classes": sorted(
                    {names.get(str(ch["class"]), str(ch["class"])) for ch in s.chips}
                ),
            }
            for s in sets
        ],
        "images": [
            {
                "id": iid,
                "sha256": images[iid].sha256,
                "dataset": str(images[iid].dataset_id),
                "lab": images[iid].dataset.lab.slug,
            }
            for iid in sorted(images)
        ],
        "labs": sorted({s.schema.dataset.lab.slug for s in sets}),
        "licences": sorted({s.schema.dataset.licence for s in sets}),
        "code_version": code_version(),
    }
    return out, lineage


def holdout_split(data: list, params: dict) -> tuple[list, list, dict]:
    """Hold out chips per support-set version (sets too small to split train only)."""
    # torch (fine-tuning): loaded by the training worker only
    from workers.fewshot.finetune import split_support_sets

    groups: dict[str, list] = {}
    for item in data:
        groups.setdefault(item[3], []).append(item)
    train, hold = [], []
    for i, (_, items) in enumerate(sorted(groups.items())):
        try:
            tr, ho = split_support_sets(
                items,
                holdout_fraction=float(params["holdout_fraction"]),
                seed=int(params["seed"]) + i,
            )
        except ValueError:
            tr, ho = items, []
        train += tr
        hold += ho
    if not hold:
        raise ValueError(
            "No support set is large enough for a held-out split: at least two "
            "classes need four or more chips."
        )

    def n(items):
        return sum(len(rc) for it in items for rc in it[2].values())

    return (
        train,
        hold,
        {
            "train_chips": n(train),
            "holdout_chips": n(hold),
            "holdout_fraction": float(params["holdout_fraction"]),
            "holdout_share": round(n(hold) / (n(train) + n(hold)), 3),
            "method": "per support-set version: whole images when >= 3, else chips per class",
        },
    )
