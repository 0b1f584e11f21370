"""Importing a dataset version's package (the RO-Crate zip of ``rocrate``) into this
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

The request only stores the package and answers 202 with an import (``jobs``): a worker
checks and restores it, recording its progress, and the import's status, error or
dataset is what the client waits on.
"""

from __future__ import annotations

from .jobs import (
    archive_import_fail,
    archive_import_run,
    dataset_archive_import_get,
    dataset_archive_import_start,
)
from .package import check_documents, invalid, resolve_models, unpack
from .restore import ArchiveImport, restore

__all__ = [
    "ArchiveImport",
    "archive_import_fail",
    "archive_import_run",
    "check_documents",
    "dataset_archive_import_get",
    "dataset_archive_import_start",
    "invalid",
    "resolve_models",
    "restore",
    "unpack",
]
