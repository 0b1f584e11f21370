"""A dataset version's RO-Crate as a zip, streamed: ``ro-crate-metadata.json``,
``chiplab-archive.json`` (``crate_archive``) and the files of ``rocrate``.

The zip is written as it is sent (no temporary file, memory bounded by one chunk) and is the
same bytes on every download (entries dated by the version; registering the version's DOI
adds it to the metadata, once). Originals are checked against
their sha256 as they go out; a mismatch stops the stream rather than ship a wrong file.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from collections.abc import Iterator

from catalog.models import DatasetVersion
from common import storage

from .crate_archive import ARCHIVE, archive_document
from .rocrate import METADATA, entries, metadata

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
_COMPRESSED = ("image/png", "image/jpeg")


# --- the zip ---------------------------------------------------------------------------
class _Sink(io.RawIOBase):
    """A write-only stream that hands over what was written since the last ``take``."""

    def __init__(self):
        self._buffer = bytearray()
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._buffer += data
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        out = bytes(self._buffer)
        self._buffer.clear()
        return out


class ChecksumMismatch(RuntimeError):
    pass


def zip_size_hint(version: DatasetVersion) -> int:
    """The bytes of the files the crate holds (the zip is a little larger)."""
    return sum(e.size for e in entries(version))


def zip_stream(version: DatasetVersion, request=None) -> Iterator[bytes]:
    """The crate as zip bytes, produced as they are read (a generator of chunks)."""
    date_time = version.created.timetuple()[:6]
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", allowZip64=True) as archive:
        doc = json.dumps(metadata(version, request), indent=1).encode()
        info = zipfile.ZipInfo(METADATA, date_time=date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, doc)
        info = zipfile.ZipInfo(ARCHIVE, date_time=date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, archive_document(version, request))
        yield sink.take()
        for entry in entries(version):
            info = zipfile.ZipInfo(entry.path, date_time=date_time)
            compressed = entry.encoding_format in _COMPRESSED or entry.size > 64 * _CHUNK
            info.compress_type = zipfile.ZIP_STORED if compressed else zipfile.ZIP_DEFLATED
            info.file_size = entry.size
            digest = hashlib.sha256()
            with storage.open_(entry.key) as src, archive.open(info, "w") as dst:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
                    yield sink.take()
            if digest.hexdigest() != entry.sha256:
                log.error(
                    "crate of version %s: %s does not match its sha256", version.pk, entry.key
                )
                raise ChecksumMismatch(f"{entry.path} does not match its recorded sha256")
            yield sink.take()
    yield sink.take()
