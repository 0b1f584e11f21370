"""Boundary refinement: re-decide chips on class boundaries by unmixing area-linear features.

A chip that straddles two domains belongs to the class that covers most of it. Its embedding,
a non-linear function of the chip (and, for the default encoder, of context around it), lies
wherever the network puts mixtures, so "nearest prototype" often picks the minority class.
Features that are chip means of per-pixel maps are instead linear in the area each class covers:
a chip 60 % A and 40 % B has features close to 0.6 a + 0.4 b, with a and b the features of pure
A and pure B chips nearby. Non-negative least squares (weights summing to one) against local
prototypes, the means of nearby interior chips of each candidate class, estimates the fractions,
and the chip takes the class with the largest one.

The per-pixel maps are the amplitudes of complex Gabor filters tuned to the strongest spectral
peaks of the support chips' windows (lattice spacing, orientation and motif: what tells lattice
domains apart), plus intensity and squared intensity. They are computed on the region the grid
covers with one FFT of the image (zero-padded: no wrap-around at its edges) and one small
inverse FFT per peak (:func:`gabor_amplitudes`), decimated to 4 samples per chip side (the
amplitudes vary on the scale of the filter, about a fifth of a chip) whatever the chip size.

Only chips whose label differs from a neighbour's and whose confidence is below a threshold are
re-decided, and only when every candidate class has interior chips to stand for it: objects of
about a chip or smaller (particles) have none and keep the classifier's labels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from scipy.optimize import nnls

from workers.fewshot.chipping import ChipGrid
from workers.fewshot.classifier import Prediction
from workers.fewshot.encoders.base import map_batches

__all__ = [
    "BoundaryConfig",
    "FrameSpectrum",
    "Unmixed",
    "chip_features",
    "frame_spectrum",
    "gabor_amplitudes",
    "padded_shape",
    "refine_boundaries",
    "refine_prediction",
    "samples_per_side",
]


@dataclass(frozen=True)
class BoundaryConfig:
    """Boundary refinement settings (defaults chosen on validation images, see CONTRACT.md).

    confidence: chips at or above this classifier confidence keep their label.
    n_peaks: spectral peaks taken from each class's support windows (Gabor filters).
    radius: chips around a boundary chip whose interior chips form its local prototypes.
    min_local: interior chips of a class within ``radius`` needed for a local prototype;
    min_global: otherwise the class's image-wide interior mean stands in if the class has at
        least this many interior chips; else the chip keeps its label.
    """

    confidence: float = 0.9
    n_peaks: int = 8
    radius: int = 3
    min_local: int = 2
    min_global: int = 3


@dataclass
class Unmixed:
    """Refined labels (rows, cols) and the estimated class fractions of the re-decided chips
    (rows, cols, K) in ``classes`` order, NaN for chips that were not re-decided."""

    labels: np.ndarray
    fractions: np.ndarray

    @property
    def decided(self) -> np.ndarray:
        """Boolean (rows, cols): chips whose label came from unmixing."""
        return ~np.isnan(self.fractions[..., 0])


def gabor_sigma(chip_size: int) -> float:
    """Spatial sigma (px) of the Gabor filters: 6 px for 32 px chips, scaled with the chip."""
    return max(1.5, chip_size * 3 / 16)


def samples_per_side(chip_size: int) -> int:
    """Gabor amplitude samples per chip side: 4, every pixel below 8 px.

    4 samples per side measured as accurate as 8 on the validation images (lattices 0.966 both,
    textures 0.808 vs 0.810) at two thirds of the time. The samples are s / 4 px apart, a
    fraction of a pixel when 4 does not divide s: the inverse FFT of the band interpolates
    exactly (the filtered map is band-limited). A spacing restricted to divisors of s left
    chip sizes like 107 px (prime) with one sample per pixel: full-size inverse FFTs per
    peak, 15 s instead of 0.2 s for a 3042^2 image.
    """
    return chip_size if chip_size < 8 else 4


def _band(half: torch.Tensor, iy: torch.Tensor, ix: torch.Tensor, width: int) -> torch.Tensor:
    """Bins (iy x ix) of the full 2-D spectrum of a real image from its ``rfft2`` ``half``:
    columns past the middle are the complex conjugates of the mirrored bins."""
    mirrored = ix > width // 2
    cols = torch.where(mirrored, width - ix, ix)[None, :]
    rows = torch.where(mirrored[None, :], (-iy[:, None]) % half.shape[0], iy[:, None])
    values = half[rows, cols.expand_as(rows)]
    return torch.where(mirrored[None, :], values.conj(), values)


@dataclass(frozen=True)
class FrameSpectrum:
    """The part of :func:`chip_features` that depends on the frame and grid alone, not on the
    support set: chip means of intensity and squared intensity (rows, cols, 2) and the
    half-plane spectrum (Hp, Wp // 2 + 1) complex64 of the region the grid covers, zero-padded
    after its last row and column by whole chips to ``shape`` (Hp, Wp) (see
    :func:`gabor_amplitudes`: no wrap-around at the frame's edges).

    A re-run after a support-set edit only changes the frequencies: computed once per (frame,
    grid) by :func:`frame_spectrum` and passed to :func:`chip_features`, it saves the FFT of
    the whole frame (0.1 s for 4096^2 px, 0.3 s where the chip size has a large prime factor,
    e.g. 107 px chips: 38 x 107 = 4066 px).
    """

    grid: ChipGrid
    means: torch.Tensor
    spectrum: torch.Tensor
    shape: tuple[int, int]

    @property
    def nbytes(self) -> int:
        """Memory held (for byte-bounded caches)."""
        return sum(t.element_size() * t.nelement() for t in (self.means, self.spectrum))


def _largest_prime_factor(n: int) -> int:
    p, out = 2, 1
    while p * p <= n:
        while n % p == 0:
            n, out = n // p, p
        p += 1
    return max(out, n)


def _pad_chips(n_chips: int, chip_size: int) -> int:
    """Chips of zero padding after ``n_chips`` along one axis: at least one (a chip is 5.3
    Gabor sigmas, :func:`gabor_sigma`), up to four where the padded length has smaller prime
    factors (FFT speed: 129 x 32 px takes twice as long as 132 x 32)."""
    return min(range(1, 5), key=lambda m: _largest_prime_factor((n_chips + m) * chip_size))


def padded_shape(grid: ChipGrid) -> tuple[int, int]:
    """(Hp, Wp): the region the grid covers with its zero padding (:func:`frame_spectrum`); the
    Gabor filters' frequencies are its FFT bins."""
    s, rows, cols = grid.chip_size, grid.rows, grid.cols
    return (rows + _pad_chips(rows, s)) * s, (cols + _pad_chips(cols, s)) * s


def frame_spectrum(norm: np.ndarray, grid: ChipGrid) -> FrameSpectrum:
    """The support-independent part of :func:`chip_features` of a normalised frame (H, W)."""
    if tuple(norm.shape) != (grid.height, grid.width):
        raise ValueError(
            f"frame {tuple(norm.shape)} does not match grid {(grid.height, grid.width)}"
        )
    s = grid.chip_size
    a = torch.from_numpy(np.ascontiguousarray(norm[grid.covered], dtype=np.float32))
    cells = a.reshape(grid.rows, s, grid.cols, s)
    means = torch.stack([cells.mean(dim=(1, 3)), (cells * cells).mean(dim=(1, 3))], dim=-1)
    shape = padded_shape(grid)
    # rfft2 (half the work of fft2) of the mean-free region, zero-padded without a copy more
    padded = torch.zeros(shape)
    torch.sub(a, a.mean(), out=padded[: a.shape[0], : a.shape[1]])
    return FrameSpectrum(grid, means, torch.fft.rfft2(padded), shape)


def gabor_amplitudes(
    spectrum: FrameSpectrum, freqs: np.ndarray, *, samples: int, sigma: float
) -> torch.Tensor:
    """Amplitudes of complex Gabor filters (spatial sigma ``sigma`` px) tuned to ``freqs``
    ((F, 2) cycles/px), sampled at the centres of (s / n)^2 px cells, n = ``samples`` per chip
    side: (F, rows * n, cols * n) float32, in the frame's intensity units.

    One small inverse FFT per frequency of the band around it (the filtered map is
    band-limited, so the decimation is exact). The frame is zero-padded
    (:func:`frame_spectrum`) and each amplitude divided by the part of the filter's weight
    that falls inside it (normalised convolution): near an edge a filter reads only the
    frame, where the periodic FFT read the opposite edge's lattice (a strip of another class
    along the border of the pixel map).
    """
    grid = spectrum.grid
    s, n = grid.chip_size, samples
    H, W = spectrum.shape
    h, w = H * n // s, W * n // s  # H, W are whole chips
    oy = torch.fft.fftfreq(h, 1 / h).round().long()  # bin offsets in FFT order
    ox = torch.fft.fftfreq(w, 1 / w).round().long()
    sf = 1 / (2 * math.pi * sigma)
    # sample each cell (s / n px wide) at its centre, not its corner: (s / n - 1) / 2 px
    t = (s / n - 1) / 2
    shift_y = torch.exp(2j * math.pi * oy / H * t)
    shift_x = torch.exp(2j * math.pi * ox / W * t)
    gy = torch.exp(-((oy / H) ** 2) / (2 * sf**2))
    gx = torch.exp(-((ox / W) ** 2) / (2 * sf**2))
    filt = torch.outer(gy * shift_y, gx * shift_x).to(torch.complex64)
    rows, cols = grid.rows * n, grid.cols * n

    def inside(count: int, length: int) -> torch.Tensor:
        # the filter's weight on pixels 0..length-1 at each sample position
        y = torch.arange(count, dtype=torch.float64) * (s / n) + t
        lo, hi = (-0.5 - y) / sigma, (length - 0.5 - y) / sigma
        return (torch.special.ndtr(hi) - torch.special.ndtr(lo)).clamp_(min=0.2).float()

    norm = torch.outer(inside(rows, grid.rows * s), inside(cols, grid.cols * s))
    norm = norm.reciprocal_().mul_(float(h * w) / float(H * W))  # ifft2 of h x w bins

    def amplitude(i: int) -> torch.Tensor:
        cy, cx = round(freqs[i][0] * H), round(freqs[i][1] * W)
        sub = _band(spectrum.spectrum, (cy + oy) % H, (cx + ox) % W, W)
        return torch.fft.ifft2(sub * filt)[:rows, :cols].abs().mul_(norm)

    out = map_batches(amplitude, range(len(freqs)), parallel=True)  # a thread per frequency
    return torch.stack(out) if out else torch.empty((0, rows, cols))


def chip_features(
    norm: np.ndarray,
    grid: ChipGrid,
    freqs: np.ndarray,
    *,
    spectrum: FrameSpectrum | None = None,
    amplitudes: torch.Tensor | None = None,
) -> np.ndarray:
    """Chip means of per-pixel maps, linear in class areas: (rows, cols, 2 + F) float64.

    Columns: intensity, squared intensity, then the Gabor amplitude at each frequency of
    ``freqs`` (spatial sigma :func:`gabor_sigma`, :func:`gabor_amplitudes`). ``spectrum``:
    :func:`frame_spectrum` of the same frame and grid, computed before (else it is computed
    here); ``amplitudes``: its :func:`gabor_amplitudes` at ``freqs``, where already computed."""
    if spectrum is None:
        spectrum = frame_spectrum(norm, grid)
    elif spectrum.grid != grid:
        raise ValueError(f"spectrum of grid {spectrum.grid} used for grid {grid}")
    s, rows, cols = grid.chip_size, grid.rows, grid.cols
    feats = [spectrum.means[..., 0], spectrum.means[..., 1]]
    if len(freqs):
        n = samples_per_side(s)
        if amplitudes is None:
            amplitudes = gabor_amplitudes(spectrum, freqs, samples=n, sigma=gabor_sigma(s))
        feats += list(amplitudes.reshape(-1, rows, n, cols, n).mean(dim=(2, 4)))
    return torch.stack(feats, dim=-1).double().numpy()


def _box_sum(x: np.ndarray, radius: int) -> np.ndarray:
    """Sum over the (2 radius + 1)^2 neighbourhood of each chip (zero outside): (R, C, ...)."""
    size = (2 * radius + 1, 2 * radius + 1) + (1,) * (x.ndim - 2)
    return ndimage.uniform_filter(x, size=size, mode="constant") * (2 * radius + 1) ** 2


def refine_boundaries(
    labels: np.ndarray,
    confidence: np.ndarray,
    features: np.ndarray,
    classes: Sequence[int],
    cfg: BoundaryConfig | None = None,
) -> Unmixed:
    """Re-decide boundary chips by unmixing their features against local class prototypes.

    labels (rows, cols) class ids; confidence (rows, cols) classifier confidence; features
    (rows, cols, F) from :func:`chip_features`; classes: the ids, in the order of the returned
    fraction columns. A chip is on a boundary when one of its 8 neighbours has another label;
    its candidates are the labels in its 3 x 3 neighbourhood.
    """
    cfg = cfg or BoundaryConfig()
    classes = [int(k) for k in classes]
    col_of = {k: i for i, k in enumerate(classes)}
    R, C = labels.shape
    std = features.reshape(-1, features.shape[-1]).std(axis=0)
    x = features / np.where(std > 0, std, 1.0)
    padded = np.pad(labels, 1, mode="edge")
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    hood = np.stack([padded[1 + dy : 1 + dy + R, 1 + dx : 1 + dx + C] for dy, dx in shifts], -1)
    boundary = (hood != labels[..., None]).any(axis=-1)
    interior = ~boundary
    fractions = np.full((R, C, len(classes)), np.nan)
    out = labels.copy()
    todo = boundary & (confidence < cfg.confidence)
    if not todo.any():
        return Unmixed(out, fractions)
    local_sum, local_n, global_mean = {}, {}, {}
    for k in classes:
        m = interior & (labels == k)
        local_n[k] = _box_sum(m.astype(np.float64), cfg.radius)
        local_sum[k] = _box_sum(x * m[..., None], cfg.radius)
        if m.sum() >= cfg.min_global:
            global_mean[k] = x[m].mean(axis=0)
    for r, c in zip(*np.nonzero(todo), strict=True):
        cands = [int(k) for k in np.unique(hood[r, c])]
        protos = []
        for k in cands:
            n = local_n[k][r, c]
            if n >= cfg.min_local - 1e-6:
                protos.append(local_sum[k][r, c] / n)
            elif k in global_mean:
                protos.append(global_mean[k])
            else:
                break
        else:
            # weights >= 0 summing to one: the sum constraint as a heavily weighted extra row
            p = np.stack(protos, axis=1)
            scale = 10.0 * max(1.0, float(np.abs(p).max()))
            a = np.vstack([p, np.full((1, len(cands)), scale)])
            w, _ = nnls(a, np.append(x[r, c], scale))
            total = w.sum()
            w = w / total if total > 0 else np.full(len(cands), 1 / len(cands))
            fractions[r, c] = 0.0
            fractions[r, c, [col_of[k] for k in cands]] = w
            out[r, c] = cands[int(np.argmax(w))]
    return Unmixed(out, fractions)


def refine_prediction(
    pred: Prediction,
    features: np.ndarray,
    classes: Sequence[int],
    cfg: BoundaryConfig | None = None,
) -> tuple[Prediction, np.ndarray]:
    """A flat (rows * cols) prediction with its boundary chips re-decided, given the grid's
    :func:`chip_features` (rows, cols, F), and the flat mask of the re-decided chips; their
    probabilities become their unmixed class fractions."""
    rows, cols = features.shape[:2]
    unmixed = refine_boundaries(
        pred.labels.reshape(rows, cols),
        pred.confidence.reshape(rows, cols),
        features,
        classes,
        cfg,
    )
    decided = unmixed.decided.ravel()
    probs = pred.probs.copy()
    probs[decided] = unmixed.fractions.reshape(rows * cols, -1)[decided].astype(probs.dtype)
    labels = unmixed.labels.ravel().astype(pred.labels.dtype)
    return Prediction(probs, labels, probs.max(axis=1)), decided
