"""Helpers for registry tests: tiny state dicts and lab model versions."""

from __future__ import annotations

import io

import torch
from django.core.files.uploadedfile import SimpleUploadedFile

from registry import services


def resnet18_bytes() -> bytes:
    """A valid (random) ResNet-18 state dict built with the engine's own architecture."""
    from workers.fewshot.encoders.resnet import resnet

    torch.manual_seed(0)
    buf = io.BytesIO()
    torch.save(resnet("resnet18").state_dict(), buf)
    return buf.getvalue()


_CACHE: dict[str, bytes] = {}


def resnet18_upload(name: str = "r18.pt") -> SimpleUploadedFile:
    if "r18" not in _CACHE:
        _CACHE["r18"] = resnet18_bytes()
    return SimpleUploadedFile(name, _CACHE["r18"], content_type="application/octet-stream")


def lab_version(lab, user, *, name: str | None = None):
    """Register an imported ResNet-18 as a new version of a lab model."""
    return services.model_version_import(
        user=user,
        lab=lab,
        upload=resnet18_upload(),
        arch="resnet18",
        name=name or f"r18-{lab.slug}",
        input_size=32,
    )


def sim_support_set(
    user,
    dataset,
    *,
    case: str = "sto_ge_interface",
    seeds=(0, 1),
    size: int = 128,
    chip_size: int = 16,
    per_class: int = 8,
    purity: float = 0.9,
):
    """A frozen SupportSetVersion over simulated images uploaded to ``dataset``.

    Chips are picked from the simulator's truth (pure chips, up to ``per_class`` per class and
    image), as a careful annotator would have clicked them.
    """
    import numpy as np

    from catalog.services import image_upload
    from labeling.models import Grid, LabelClass, LabelSchema, SupportSetVersion
    from tests.support.micrographs import tiff_bytes
    from workers.fewshot import sim
    from workers.fewshot.chipping import ChipGrid, chip_truth

    schema = LabelSchema.objects.create(dataset=dataset, name=f"{case}-{seeds}", created_by=user)
    classes, chips, grids = {}, [], []
    palette = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628"]
    for seed in seeds:
        s = sim.generate(case, seed=seed, size=(size, size))
        for k, name in enumerate(s.class_names):
            if name not in classes:
                classes[name] = LabelClass.objects.create(
                    schema=schema, name=name, colour=palette[k % len(palette)], order=k
                )
        upload = SimpleUploadedFile(f"{case}-{seed}.tif", tiff_bytes(s.image.astype("float32")))
        image = image_upload(user=user, dataset=dataset, upload=upload)
        cg = ChipGrid.for_shape(s.image.shape, chip_size)
        grid = Grid.objects.create(
            image=image,
            chip_size=chip_size,
            rows=cg.rows,
            cols=cg.cols,
            margins=dict(zip(("top", "left", "bottom", "right"), cg.margins, strict=True)),
            created_by=user,
        )
        grids.append(grid)
        labels, pure = chip_truth(s.truth, cg, return_purity=True)
        rng = np.random.default_rng(seed)
        for cls in np.unique(labels):
            rc = np.argwhere((labels == cls) & (pure >= purity))
            for r, c in rc[rng.permutation(len(rc))[:per_class]]:
                chips.append(
                    {
                        "grid": str(grid.pk),
                        "image": str(image.pk),
                        "row": int(r),
                        "col": int(c),
                        "class": str(classes[s.class_names[int(cls)]].pk),
                    }
                )
    version = SupportSetVersion.objects.create(
        schema=schema,
        number=1,
        rule="curator",
        chips=chips,
        classes=[{"id": str(c.pk), "name": c.name, "colour": c.colour} for c in classes.values()],
        chip_size=chip_size,
        created_by=user,
    )
    version.grids.set(grids)
    return version


TINY_PARAMS = {
    "epochs": 2,
    "episodes_per_epoch": 3,
    "holdout_episodes": 3,
    "n_query": 6,
    "k_shot": 2,
}
