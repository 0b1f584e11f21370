"""Micrograph file formats: validate uploads, decode pixels, extract calibration and metadata.

Pure Python (numpy, Pillow, tifffile, rosettasciio); never imports Django. Used by the upload
API (``probe`` before anything is stored) and by the ingest task (``read`` + previews).

Formats (``Probe.format``): ``"jpeg"``, ``"png"``, ``"tiff"`` (classic and BigTIFF, incl.
ImageJ and OME-TIFF), ``"dm3"``, ``"dm4"`` (Gatan). Accepted extensions, case-insensitive:
.jpg/.jpeg, .png, .tif/.tiff, .dm3, .dm4 — and the extension must match the content.

API
---
``probe(path, *, filename, max_pixels, max_bytes=DEFAULT_MAX_DECODED_BYTES) -> Probe``
    Sniffs the first 32 bytes, checks the extension, checks from the header *before*
    decoding: width × height × frames against ``max_pixels``, at most
    ``MAX_SAMPLES_PER_PIXEL`` (4) samples per pixel, and the decoded bytes (pixels ×
    samples × bytes per sample, every frame) against ``max_bytes``; then decodes every frame
    one at a time. TIFF pages and tiles are checked against the first page's IFD before
    each is decoded, and Deflate/LZMA segments never inflate past their declared size.
    ``Probe(format, width, height, frames, dtype, channels)``: ``dtype``/``channels`` describe
    the stored samples (an RGB JPEG is ``"uint8"``, 3).
``read(path, *, fmt, filename="original", max_bytes=None) -> Micrograph``
    ``data``: ``(H, W)``, or ``(T, H, W)`` for multi-page TIFFs and DM stacks (all axes before
    Y, X — time, Z, channel — are flattened into T). Grey samples keep their native dtype
    (uint8/16/32, int8/16/32, float32/64; bilevel → uint8). Colour is converted to grey:
    if R == G == B the first channel is kept losslessly (``rgb_conversion =
    "identical_channels"``), otherwise BT.601 luma as float32 (``"luminance"``); alpha is
    dropped. ``calibration``: ``{"pixel_size", "pixel_size_y", "pixel_unit", "source"}``;
    lengths are normalised to ``"nm"`` (reciprocal lengths to ``"1/nm"``, other units
    kept as written); all ``None`` when unknown. ``source`` is one of ``"gatan_dm"``,
    ``"ome"``, ``"imagej"``, ``"fei"``, ``"tiff_resolution"``, ``"png_phys"``,
    ``"jpeg_density"``. Densities of ≤ 1200 dpi (72/96/300 dpi library defaults) are not
    a calibration. ``instrument``: only keys that were found, from ``microscope``,
    ``manufacturer``, ``voltage_kv``, ``magnification``, ``mode`` (``"TEM"``, ``"STEM"``,
    ``"STEM DF"``, ``"SEM"``, ``"… diffraction"``), ``acquired_at`` (ISO 8601; with offset
    when the file has one), ``operator``, ``specimen``, ``detector``, ``image_source``,
    ``camera_length_mm``, ``defocus_nm``, ``spot_size``, ``exposure_s``, ``frame_time_s``.
    ``raw``: the original tag tree, JSON-serialisable, truncated (depth 16, 256 items per
    container, 16 KiB per string, binary blobs summarised). With ``max_bytes``, the header
    checks of ``probe`` (samples, decoded bytes) are made again before decoding.
``stream(path, *, fmt, filename="original", max_bytes=None)`` (a context manager) ``-> FrameStream``
    ``read``'s frames one at a time, for work that needs one frame at a time (previews at
    ingest): TIFF page by page and DM3/DM4 frame by frame, so peak memory is about one
    decoded frame; PNG/JPEG are one frame, decoded whole. ``FrameStream.frames`` is the
    declared count; iterating yields grey ``(H, W)`` frames in their own dtype (a stack read
    whole turns them all to float32 when one needs a luminance conversion); ``calibration``,
    ``instrument``, ``raw`` and ``rgb_conversion`` are set once the last frame is out. The
    checks and messages are ``read``'s; a missing frame, damaged structure or all-NaN file
    raises after the last frame.
``preview(data, *, max_side=2048, index=0) -> uint8 (h, w)``,
``thumbnail(data, *, side=256, index=0)``
    0.5–99.5 % percentile stretch of frame ``index``, antialiased downscale, never upscaled.
``encode_png(arr) -> bytes``
    uint8 grey/RGB/RGBA or uint16 grey.

Errors
------
``FormatError(code, message)``: ``str(err)`` names the problem for the uploader;
``err.code`` ∈ ``ERROR_CODES`` (``empty``, ``unknown_format``, ``extension_mismatch``,
``corrupt``, ``too_large_dimensions``, ``too_large_decoded``, ``unsupported_content``,
``no_finite_pixels``) and ``err.http_status``
is the matching 400/413/415.
"""

from .api import probe, read, stream
from .base import (
    DEFAULT_MAX_DECODED_BYTES,
    ERROR_CODES,
    EXTENSIONS,
    FORMATS,
    MAX_SAMPLES_PER_PIXEL,
    FormatError,
    Micrograph,
    Probe,
)
from .preview import encode_png, preview, thumbnail
from .stream import FrameStream

__all__ = [
    "DEFAULT_MAX_DECODED_BYTES",
    "ERROR_CODES",
    "EXTENSIONS",
    "FORMATS",
    "MAX_SAMPLES_PER_PIXEL",
    "FormatError",
    "FrameStream",
    "Micrograph",
    "Probe",
    "encode_png",
    "preview",
    "probe",
    "read",
    "stream",
    "thumbnail",
]
