"""A decoded file as a stream of frames: one frame in memory at a time.

Each reader opens a file, checks its header against the decoded-bytes budget and hands back a
:class:`FrameStream`. Iterating it yields grey ``(H, W)`` frames decoded one at a time (TIFF
page by page, DM frame by frame; PNG/JPEG are one frame); ``read`` collects the same frames
into one ``(T, H, W)`` array (:func:`catalog.formats.read`). The checks of a whole-stack read
are made either way, at the same points: a frame of another shape while iterating; a missing
frame, a damaged structure and no finite pixel at all once the last frame has been read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .base import FormatError, Micrograph
from .pixels import merge_conversions, stack_grey, to_grey

#: ``finish()`` → (calibration, instrument, raw): called once every frame has been decoded.
Finish = Callable[[], tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]


class FrameStream:
    """The frames of one opened file (valid inside the reader's ``with`` block).

    ``frames``: how many the header declares. Iterate once for grey frames; afterwards
    ``calibration``, ``instrument``, ``raw`` and ``rgb_conversion`` are set. Frames of a stack
    keep their own dtype (a whole-stack read turns every frame to float32 when one needs a
    luminance conversion; a preview's contrast stretch reads both as the same float32s).
    """

    def __init__(self, *, fmt: str, count: int, frames: Iterator[np.ndarray], finish: Finish):
        self.format = fmt
        self.frames = count
        self._source = frames
        self._finish = finish
        self.calibration: dict[str, Any] | None = None
        self.instrument: dict[str, Any] = {}
        self.raw: dict[str, Any] = {}
        self.rgb_conversion: str | None = None
        self.finished = False

    def __iter__(self) -> Iterator[np.ndarray]:
        conversions: list[str | None] = []
        shape: tuple[int, ...] | None = None
        finite = False
        for index, frame in enumerate(self._source):
            grey, conversion = to_grey(frame)
            if shape is None:
                shape = grey.shape
            elif grey.shape != shape:
                raise FormatError("corrupt", f"Frame {index} has shape {grey.shape}, not {shape}.")
            if index >= self.frames:
                raise FormatError("corrupt", f"The file holds more than its {self.frames} frames.")
            conversions.append(conversion)
            finite = finite or not np.issubdtype(grey.dtype, np.inexact) or _any_finite(grey)
            yield grey
        if len(conversions) != self.frames:
            raise FormatError(
                "corrupt", f"The file holds {len(conversions)} of {self.frames} frames."
            )
        self.calibration, self.instrument, self.raw = self._finish()
        self.rgb_conversion = merge_conversions(conversions)
        if not finite:
            raise no_finite_pixels()
        self.finished = True

    def read(self) -> Micrograph:
        """Every frame in one ``(H, W)`` or ``(T, H, W)`` array (no finite-pixel check here:
        :func:`catalog.formats.read` makes it on the whole array)."""
        data, conversion = stack_grey(self._source, self.frames)
        calibration, instrument, raw = self._finish()
        return Micrograph(
            format=self.format,
            data=data,
            calibration=calibration,
            instrument=instrument,
            raw=raw,
            rgb_conversion=conversion,
        )


def _any_finite(frame: np.ndarray) -> bool:
    # a block of rows at a time: no boolean copy of the whole frame
    rows = max(1, (4 * 1024**2) // max(1, frame[0].size))
    return any(np.isfinite(frame[i : i + rows]).any() for i in range(0, frame.shape[0], rows))


def no_finite_pixels() -> FormatError:
    return FormatError(
        "no_finite_pixels",
        "The image holds no finite pixel values (all NaN or infinite): nothing to analyse.",
    )
