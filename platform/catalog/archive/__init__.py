"""Importing a dataset version's package (the RO-Crate zip of ``catalog.rocrate``) into this
Chiplab as a new dataset: the other half of the export → import round trip.

The package is checked whole before anything is stored: it is a zip within the size bounds
(declared sizes summed, so a zip bomb is refused from its directory), its
``ro-crate-metadata.json`` is an RO-Crate whose ``hasPart`` lists exactly the zip's files, each
file has the size and sha256 the crate gives, ``chiplab-archive.json`` agrees with the crate,
the support sets and results are consistent with the images, and every original is a readable
micrograph of the size it claims (probed like an upload). Then one transaction creates, with
new ids: the dataset (its metadata, licence and creators), its images (bit-exact originals,
ingested like uploads, the published pixel size kept), the label schemas and classes of its
support sets, the frozen support sets (their chips on grids of the new images), the results
(a finished job per source job, files copied bit-exact) and version 1 of the dataset, the
imported snapshot: its manifest names the source version (persistent URL, DOI) and its
results re-derive from it (``analysis.rederive``). A failure stores nothing: rows roll back
and the objects written are deleted.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from accounts.models import Lab, Role
from accounts.selectors import require_role
from common.errors import Invalid, TooLarge

from ..models import Visibility
from .package import check_documents, invalid, resolve_models, unpack
from .restore import ArchiveImport, restore

__all__ = ["ArchiveImport", "dataset_archive_import"]

_CHUNK = 1024 * 1024


def dataset_archive_import(
    *, user, lab: Lab, upload, visibility: str = Visibility.LAB, with_results: bool = True
) -> ArchiveImport:
    """Import the package ``upload`` (an uploaded file) as a new dataset of ``lab``
    (curators). ``with_results=False`` leaves the results out (for a server without the
    model versions that made them)."""
    require_role(user=user, lab_id=lab.pk, role=Role.CURATOR)
    if visibility not in Visibility.values:
        raise Invalid(
            "Visibility must be private, lab or public.", fields={"visibility": ["invalid"]}
        )
    if not upload.size:
        raise invalid("The archive is empty.", "empty")
    if upload.size > settings.CHIPLAB_ARCHIVE_MAX_BYTES:
        raise TooLarge(
            f"The archive is {upload.size} bytes; this server imports at most "
            f"{settings.CHIPLAB_ARCHIVE_MAX_BYTES} (CHIPLAB_ARCHIVE_MAX_BYTES).",
            code="archive_too_large",
        )
    with (
        _local_copy(upload) as path,
        tempfile.TemporaryDirectory(prefix="chiplab-archive-") as tmp,
    ):
        package = unpack(path, Path(tmp))
        check_documents(package, with_results=with_results)
        if with_results:
            resolve_models(package, user=user)
        else:
            package.doc["results"] = []
        return restore(package, user=user, lab=lab, visibility=visibility)


@contextlib.contextmanager
def _local_copy(upload) -> Iterator[Path]:
    if hasattr(upload, "temporary_file_path"):
        yield Path(upload.temporary_file_path())
        return
    with tempfile.NamedTemporaryFile(suffix=".zip") as tmp:
        for chunk in upload.chunks(_CHUNK):
            tmp.write(chunk)
        tmp.flush()
        yield Path(tmp.name)
