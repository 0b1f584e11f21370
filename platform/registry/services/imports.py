"""Import of user weights: a validated ResNet state dict registered as a new lab model version."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.conf import settings

from accounts.models import Lab, Role
from accounts.selectors import require_role
from common.errors import Invalid, TooLarge

from .. import tracking
from ..models import ModelVersion, Source
from .registration import experiment_for, lab_model_name, version_register

IMPORT_ARCHS = ("resnet18", "resnet34", "resnet50")


def _import_run(c, *, lab: Lab, arch: str, params: dict) -> str:
    """A tracking run for the import in the lab's experiment, its parameters logged."""
    run = c.create_run(
        tracking.experiment_id(experiment_for(lab)),
        run_name=f"import-{arch}",
        tags={"chiplab.source": "imported", "chiplab.lab": lab.slug},
    )
    run_id = run.info.run_id
    for key, value in params.items():
        c.log_param(run_id, key, value)
    return run_id


def _import_card(*, arch: str, filename: str, description: str) -> dict:
    """The model card of imported weights: what Chiplab cannot vouch for, said so."""
    return {
        "summary": description or f"Imported {arch} state dict ({filename}).",
        "trained_on": "unknown: weights supplied by the lab (see the uploader's notes)",
        "intended_use": "Feature extractor for few-shot chip classification.",
        "limitations": "Not trained on micrographs by Chiplab; compare against the "
        "champion on held-out episodes before promoting.",
        "licence": "unknown: set by the lab that supplied the weights",
    }


def model_version_import(
    *,
    user,
    lab: Lab,
    upload,
    arch: str,
    name: str = "",
    input_size: int = 64,
    layer: str = "layer4",
    description: str = "",
) -> ModelVersion:
    """Validate an uploaded ResNet state dict and register it as a new lab model version.

    Validation: readable with ``torch.load(weights_only=True)`` (no pickled code), a dict of
    tensors fitting ``arch`` (keys and shapes), and a forward pass giving finite embeddings
    of the expected shape. Anything else is a 400 with the reason.
    """
    require_role(user=user, lab_id=lab.pk, role=Role.CURATOR)
    if arch not in IMPORT_ARCHS:
        raise Invalid(
            f"Supported architectures: {', '.join(IMPORT_ARCHS)}.", fields={"arch": ["invalid"]}
        )
    if upload.size is not None and upload.size > settings.CHIPLAB_MAX_MODEL_UPLOAD_BYTES:
        raise TooLarge(
            f"Model files are limited to {settings.CHIPLAB_MAX_MODEL_UPLOAD_BYTES} bytes."
        )
    full_name = lab_model_name(lab, name or f"{arch}-import")
    with tempfile.TemporaryDirectory(prefix="chiplab-import-") as tmp:
        path = Path(tmp) / "upload.pt"
        with path.open("wb") as dst:
            for chunk in upload.chunks():
                dst.write(chunk)
        encoder = _validated_resnet(path, arch=arch, input_size=input_size, layer=layer)
        # torch (encoders): loaded when an import is checked, never by every web process
        from workers.fewshot.encoders import save_encoder
        from workers.fewshot.encoders.io import sha256_file

        upload_sha = sha256_file(path)
        enc_dir = Path(tmp) / "encoder"
        save_encoder(
            encoder, enc_dir, metadata={"imported_from": upload.name, "upload_sha256": upload_sha}
        )
        c = tracking.client()
        run_id = _import_run(
            c,
            lab=lab,
            arch=arch,
            params={
                "arch": arch,
                "input_size": input_size,
                "layer": layer,
                "upload_sha256": upload_sha,
                "filename": upload.name,
            },
        )
        card = _import_card(arch=arch, filename=upload.name, description=description)
        lineage = {
            "imported": {"filename": upload.name, "sha256": upload_sha, "by": str(user.pk)},
            "labs": [lab.slug],
        }
        c.log_dict(run_id, lineage, "lineage.json")
        version = version_register(
            lab=lab,
            name=full_name,
            run_id=run_id,
            kind="resnet",
            source=Source.IMPORTED,
            encoder_dir=enc_dir,
            card=card,
            lineage=lineage,
            metrics={},
            user=user,
        )
        c.set_terminated(run_id)
    return version


def _validated_resnet(path: Path, *, arch: str, input_size: int, layer: str):
    # torch and the encoders: loaded when an import is checked, never by every web process
    import numpy as np
    import torch

    from workers.fewshot.chipping import ChipGrid
    from workers.fewshot.encoders import build_encoder
    from workers.fewshot.encoders.resnet import StateDictError

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any unreadable or unsafe file is the user's input error
        raise Invalid(
            f"Not a PyTorch state dict loadable with weights_only=True: "
            f"{(str(err).splitlines() or [type(err).__name__])[0][:300]}",
            fields={"file": ["invalid"]},
        ) from None
    if not isinstance(state, dict) or not state:
        raise Invalid(
            "The file does not hold a state dict (a mapping of tensor names to tensors).",
            fields={"file": ["invalid"]},
        )
    try:
        encoder = build_encoder(
            "resnet", device="cpu", weights=state, arch=arch, input_size=input_size, layer=layer
        )
    except (StateDictError, ValueError, RuntimeError, TypeError) as err:
        raise Invalid(str(err)[:1000], fields={"file": ["invalid"]}) from None
    probe = np.random.default_rng(0).random((64, 64), dtype=np.float32)
    emb = encoder.embed(probe, ChipGrid.for_shape((64, 64), 32))
    if tuple(emb.shape) != (2, 2, encoder.dim) or not bool(torch.isfinite(emb).all()):
        raise Invalid(
            "The weights do not produce finite embeddings of the expected shape.",
            fields={"file": ["invalid"]},
        )
    return encoder
