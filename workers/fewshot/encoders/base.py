"""Encoder base class, registry and batched chip extraction."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from workers.fewshot.chipping import ChipGrid

__all__ = [
    "Encoder",
    "build_encoder",
    "centre_chips",
    "context_margin",
    "extract_chips",
    "list_encoders",
    "register_encoder",
    "resize_chips",
    "resolve_device",
    "window_batch",
    "window_view",
]

_REGISTRY: dict[str, Callable[..., Encoder]] = {}


def resolve_device(device: str | torch.device | None) -> torch.device:
    """None/'auto' -> CUDA when available else CPU; otherwise torch.device(device)."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def register_encoder(name: str) -> Callable[[Callable[..., Encoder]], Callable[..., Encoder]]:
    """Decorator registering a keyword-only encoder builder under ``name``."""

    def wrap(builder: Callable[..., Encoder]) -> Callable[..., Encoder]:
        if name in _REGISTRY:
            raise ValueError(f"encoder {name!r} already registered")
        _REGISTRY[name] = builder
        return builder

    return wrap


def list_encoders() -> list[str]:
    """Names accepted by :func:`build_encoder`."""
    return sorted(_REGISTRY)


def build_encoder(
    name: str, *, device: str | torch.device | None = "cpu", **kwargs: Any
) -> Encoder:
    """Build a registered encoder by name (keyword-only options, see each builder)."""
    try:
        builder = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown encoder {name!r}; available: {list_encoders()}") from None
    return builder(device=resolve_device(device), **kwargs)


def extract_chips(
    image: torch.Tensor,
    *,
    chip_size: int,
    offset: tuple[int, int] = (0, 0),
    stride: int | None = None,
    margin: int = 0,
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Cut windows from an image in one call: (H, W) -> ((N, 1, w, w), (n_rows, n_cols)).

    ``stride`` defaults to ``chip_size`` (the chip grid); a smaller stride gives overlapping
    windows whose origins are ``offset + i * stride``. With ``margin`` m > 0 each window is the
    chip plus m px of surrounding context on every side (w = chip_size + 2 m, the chip at its
    centre); context beyond the image edge is mirrored (reflect padding). The windows are a
    copy (:func:`window_view` cuts them without one).
    """
    windows = window_view(image, chip_size=chip_size, offset=offset, stride=stride, margin=margin)
    n_rows, n_cols, size, _ = windows.shape
    return windows.reshape(n_rows * n_cols, 1, size, size), (n_rows, n_cols)


def window_view(
    image: torch.Tensor,
    *,
    chip_size: int,
    offset: tuple[int, int] = (0, 0),
    stride: int | None = None,
    margin: int = 0,
) -> torch.Tensor:
    """The windows of :func:`extract_chips` as a strided view (n_rows, n_cols, w, w) of the
    (padded) image: no copy (with context, windows overlap: a copy holds each pixel 4 times)."""
    s, m = int(chip_size), int(margin)
    t = int(stride or s)
    region = image[offset[0] :, offset[1] :]
    h, w = region.shape
    n_rows, n_cols = (h - s) // t + 1, (w - s) // t + 1
    if n_rows < 1 or n_cols < 1:
        raise ValueError(
            f"no {s}px window fits in a {tuple(image.shape)} image after offset {offset}"
        )
    if m > 0:
        region = _reflect_pad(image, m)[offset[0] :, offset[1] :]
    region = region.contiguous()
    sh, sw = region.stride()
    size = s + 2 * m
    return region.as_strided((n_rows, n_cols, size, size), (t * sh, t * sw, sh, sw))


def window_batch(windows: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Windows ``start:stop`` (row-major) of a :func:`window_view`, copied: (n, 1, w, w)
    contiguous, one copy per grid row they span (the encoders compute ~20 % faster on
    contiguous batches than on strided views)."""
    cols, size = windows.shape[1], windows.shape[-1]
    out = torch.empty((stop - start, 1, size, size), dtype=windows.dtype)
    at = start
    while at < stop:
        row, col = divmod(at, cols)
        take = min(cols - col, stop - at)
        out[at - start : at - start + take, 0] = windows[row, col : col + take]
        at += take
    return out


def _reflect_pad(image: torch.Tensor, m: int) -> torch.Tensor:
    """Mirror ``m`` px on every side of (H, W); repeated for margins wider than the image."""
    x = image[None, None]
    while m > 0:
        step = min(m, x.shape[-2] - 1, x.shape[-1] - 1)
        if step < 1:  # a 1-px image has nothing to mirror
            return F.pad(x, (m, m, m, m), mode="replicate")[0, 0]
        x = F.pad(x, (step, step, step, step), mode="reflect")
        m -= step
    return x[0, 0]


def _window_at(image: torch.Tensor, y: int, x: int, size: int) -> torch.Tensor:
    """The (1, size, size) window from (y, x) of (H, W), mirrored where it leaves the image as
    :func:`_reflect_pad` mirrors (one reflection: the window reaches at most half its size
    beyond an edge)."""
    h, w = image.shape
    crop = image[max(y, 0) : min(y + size, h), max(x, 0) : min(x + size, w)]
    pads = (max(-x, 0), max(x + size - w, 0), max(-y, 0), max(y + size - h, 0))
    if any(pads):
        crop = F.pad(crop[None, None], pads, mode="reflect")[0, 0]
    return crop[None]


def context_margin(chip_size: int) -> int:
    """Context of encoders that read around chips: half a chip per side (window ~2x chip)."""
    return int(chip_size) // 2


def centre_chips(windows: torch.Tensor) -> torch.Tensor:
    """The chips at the centre of context windows cut with :func:`context_margin`.

    (N, C, w, w) -> (N, C, s, s) with w = s + 2 * (s // 2), i.e. s = (w + 1) // 2.
    """
    w = windows.shape[-1]
    s = (w + 1) // 2
    m = (w - s) // 2
    return windows[..., m : m + s, m : m + s]


def resize_chips(chips: torch.Tensor, size: int) -> torch.Tensor:
    """Resize chips (N, C, s, s) -> (N, C, size, size): area down, bilinear up."""
    s = chips.shape[-1]
    if s == size:
        return chips
    if s > size:
        return F.interpolate(chips, size=(size, size), mode="area")
    return F.interpolate(chips, size=(size, size), mode="bilinear", align_corners=False)


class Encoder:
    """Maps chips to embeddings; subclasses implement :meth:`embed_chips`.

    Attributes: ``name`` (registry name), ``dim`` (embedding size D), ``device``,
    ``default_temperature`` (softmax temperature it was trained with, or None -> calibrate).
    """

    name: str = "base"
    dim: int = 0
    default_temperature: float | None = None
    #: chips per forward pass: bounds peak memory, and batches that fit the CPU caches are
    #: measured ~3x faster than 2048-chip ones (4096 x 4096 px, 64 px chips: 0.55 s vs 1-2 s)
    batch_size: int = 256
    #: and at most this many window pixels per pass (256 windows of 64 px: 32 px chips with
    #: context): 256 windows of 428 px (214 px chips) were 187 MB per tensor and took twice
    #: the CPU time of batches of 5 (3042^2 px: 1.7 s vs 1.0 s); 128 px chips 1.1 vs 0.6 s
    batch_pixels: int = 1 << 20

    def __init__(self, *, device: torch.device) -> None:
        self.device = device

    def config(self) -> dict[str, Any]:
        """JSON-serialisable builder options that recreate this encoder (see save_encoder)."""
        return {}

    @property
    def groups(self) -> list[tuple[str, slice]]:
        """Named feature groups [(name, slice)] covering the embedding in order (for per-task
        weighting, ``workers.fewshot.weighting``); one group unless an encoder says more."""
        return [("all", slice(0, self.dim))]

    def margin(self, chip_size: int) -> int:
        """Context (px per side) the encoder reads around each chip; 0 = the chip alone.

        :meth:`embed_chips` then receives windows of ``chip_size + 2 * margin`` px, chip centred.
        """
        return 0

    def embed_chips(self, chips: torch.Tensor) -> torch.Tensor:
        """Embed a batch of chips: (N, 1, w, w) float32 in ~[0, 1] -> (N, D) float32.

        w = s + 2 * margin(s): the chip plus its context window (see :meth:`margin`).
        """
        raise NotImplementedError

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Learned tensors to serialise (empty for training-free encoders)."""
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore learned tensors produced by :meth:`state_dict`."""
        if state:
            raise ValueError(f"encoder {self.name!r} has no weights but got {len(state)} tensors")

    @torch.inference_mode()
    def embed(
        self,
        image: np.ndarray | torch.Tensor,
        grid: ChipGrid,
        *,
        stride: int | None = None,
    ) -> torch.Tensor:
        """Embed a whole normalised image: (H, W) float32 -> (rows, cols, D) on CPU.

        With ``stride < chip_size`` returns the embeddings of overlapping windows instead,
        shape (n_rows, n_cols, D) with window origins ``offset + i * stride``.
        """
        img = torch.as_tensor(
            np.asarray(image, dtype=np.float32) if not torch.is_tensor(image) else image
        )
        if tuple(img.shape) != (grid.height, grid.width):
            raise ValueError(
                f"image shape {tuple(img.shape)} does not match grid {(grid.height, grid.width)}"
            )
        windows = window_view(
            img.to(torch.float32),
            chip_size=grid.chip_size,
            offset=grid.offset,
            stride=stride,
            margin=self.margin(grid.chip_size),
        )
        n_rows, n_cols = windows.shape[:2]
        n = n_rows * n_cols
        batch = self._batch(windows.shape[-1])

        def embed_batch(start: int) -> torch.Tensor:
            chips = window_batch(windows, start, min(start + batch, n)).to(self.device)
            return self.embed_chips(chips).float().cpu()

        out = map_batches(embed_batch, range(0, n, batch), parallel=self.device.type == "cpu")
        return torch.cat(out).reshape(n_rows, n_cols, -1)

    def _batch(self, window: int) -> int:
        """Windows of ``window`` px per forward pass (``batch_size``, ``batch_pixels``)."""
        return max(1, min(self.batch_size, self.batch_pixels // (window * window)))

    @torch.inference_mode()
    def embed_at(
        self, image: np.ndarray | torch.Tensor, chip_size: int, origins: np.ndarray
    ) -> torch.Tensor:
        """Embed chips at any positions of a normalised image: (H, W) and origins (N, 2) of
        ``chip_size`` px chips inside it (top-left y, x) -> (N, D) on CPU, the numbers
        :meth:`embed` gives a chip at that position (its context mirrored at the edges alike)."""
        img = torch.as_tensor(np.asarray(image, dtype=np.float32))
        origins = np.asarray(origins, np.int64).reshape(-1, 2)
        s, m = int(chip_size), self.margin(int(chip_size))
        h, w = img.shape
        outside = (origins < 0).any(1) | (origins[:, 0] + s > h) | (origins[:, 1] + s > w)
        if outside.any():
            y, x = origins[outside][0]
            raise ValueError(f"a {s}px chip at ({y}, {x}) leaves the {h}x{w} image")
        if not len(origins):
            return torch.zeros((0, self.dim), dtype=torch.float32)
        size = s + 2 * m
        batch = self._batch(size)

        def embed_batch(start: int) -> torch.Tensor:  # windows cut batch by batch: bounded memory
            part = origins[start : start + batch]
            windows = torch.stack([_window_at(img, int(y) - m, int(x) - m, size) for y, x in part])
            return self.embed_chips(windows.to(self.device)).float().cpu()

        # every batch on one torch thread, as ``embed``'s: a few small batches on OpenMP's
        # threads left them spinning, and the steps after (classify, pixels) slowed by a third
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            starts = range(0, len(origins), batch)
            cpu = self.device.type == "cpu"
            return torch.cat(map_batches(embed_batch, starts, parallel=cpu, threads=threads))
        finally:
            torch.set_num_threads(threads)


def map_batches(
    fn: Callable[[int], torch.Tensor], starts: range, *, parallel: bool, threads: int | None = None
) -> list[torch.Tensor]:
    """``[fn(s) for s in starts]``; with ``parallel``, on torch's thread count of Python threads
    that each run torch on one thread, whole batches at a time. The encoders run hundreds of
    small kernels per batch, and some on one thread only (numpy's sort, torch's bincount):
    split within each op, 2 threads gave ~1.35x (4096^2, 32 px chips: 1.48 s wall against 2.0
    CPU s on one thread), and on a busy machine OpenMP's waiting threads made it several times
    slower than one thread (load ~4: 5.9 s against 3.6 s side by side; 256 px chips 17.6 s
    against 3.1 s). The values are those of one thread (each batch is computed whole by one).
    ``threads``: how many (default torch's thread count)."""
    threads = min(threads or torch.get_num_threads(), len(starts))
    if not parallel or threads < 2:
        return [fn(s) for s in starts]
    previous = torch.get_num_threads()
    grad = torch.is_grad_enabled()
    inference = torch.is_inference_mode_enabled()

    def run(start: int) -> torch.Tensor:
        # thread-local settings: a new thread would run with autograd on and torch's default
        # thread count
        torch.set_num_threads(1)
        with torch.inference_mode(inference), torch.set_grad_enabled(grad):
            return fn(start)

    try:
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(run, starts))
    finally:
        torch.set_num_threads(previous)  # MKL's count is process-wide: restored
