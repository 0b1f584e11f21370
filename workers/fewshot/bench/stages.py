"""Per-stage times of the core (``bench.speed --part stages``): normalise, embed, spectrum,
fit, ``Segmenter.classify``'s own stages, and a re-run after a support-set edit, per (image
size, chip size), with a digest of the labels so that runs of two code versions compare.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from workers.fewshot import sim
from workers.fewshot.bench.sampling import sample_support
from workers.fewshot.chipping import ChipGrid, chip_truth

SPEED_CASE = "sto_ge_interface"


def _cached_sim(case: str, seed: int, size: int, cache_dir: str | None):
    """``sim.generate`` (a 4096^2 image takes several seconds), cached as .npy in cache_dir."""
    if cache_dir is None:
        s = sim.generate(case, seed=seed, size=(size, size))
        return s.image, s.truth
    base = Path(cache_dir) / f"{case}-s{seed}-{size}"
    image, truth = base.with_suffix(".image.npy"), base.with_suffix(".truth.npy")
    if not (image.exists() and truth.exists()):
        s = sim.generate(case, seed=seed, size=(size, size))
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        np.save(image, s.image)
        np.save(truth, s.truth)
    return np.load(image), np.load(truth)


def time_stages(
    encoder,
    *,
    size: int = 4096,
    chips: tuple[int, ...] = (32, 64, 107, 128, 214, 256),
    k: int = 5,
    seed: int = 0,
    repeats: int = 3,
    warmup: bool = True,
    cache_dir: str | None = None,
    out=None,
) -> list[dict]:
    """Per-stage seconds of the core on one simulated (size x size) image, per chip size.

    ``stages`` holds wall seconds per stage and process CPU seconds (``*_cpu``: all threads;
    on a shared machine they vary less than wall time; the cold total's is ``cpu``).

    Stages: normalise, embed (the encoder over every chip), spectrum, fit (prototypes and the
    support chips' spectral peaks), then ``Segmenter.classify``'s own (boundary features +
    unmixing, classify, pixel map, statistics with 200 bootstraps). "rerun": fit + classify
    again after removing one example (:func:`edited_support`) with the cold run's spectrum and
    ``pixels.PixelFeatures`` (the frame's support-independent features it filled). Medians
    over ``repeats`` runs (after one untimed run with ``warmup``: FFT plans, lru caches),
    with the min and max of the cold total.
    """
    image, truth = _cached_sim(SPEED_CASE, seed, size, cache_dir)
    reports = []
    for chip in chips:
        grid = ChipGrid.for_shape(image.shape, chip)
        _, dense = np.unique(chip_truth(truth, grid), return_inverse=True)
        support = sample_support(
            dense.reshape(grid.rows, grid.cols), k, np.random.default_rng(seed)
        )
        edited = edited_support(support)
        runs, digests = [], set()
        for i in range(repeats + int(warmup)):
            t, seg = _timed_run(encoder, image, grid, support, edited, seed)
            digests.add(hashlib.sha256(np.ascontiguousarray(seg.labels).tobytes()).hexdigest())
            if i >= int(warmup):
                runs.append(t)
        stages = {key: float(np.median([r.get(key, 0.0) for r in runs])) for key in runs[0]}
        cold = [r["cold"] for r in runs]
        report = {
            "size": size,
            "chip_size": chip,
            "chips": grid.n_chips,
            "stages": stages,
            "cold_min": min(cold),
            "cold_max": max(cold),
            "repeats": len(runs),
            "labels_sha256": sorted(digests)[0][:16] if len(digests) == 1 else "NONDETERMINISTIC",
            # support ids are the dense truth classes: labels compare directly
            "chip_accuracy": float((seg.labels == dense.reshape(grid.rows, grid.cols)).mean()),
        }
        reports.append(report)
        if out is not None:
            out(_stage_line(report))
    return reports


def _timed_run(encoder, image: np.ndarray, grid: ChipGrid, support, edited, seed: int):
    """One cold run and one re-run with the ``edited`` support set -> (seconds per stage, the
    cold run's Segmentation)."""
    # the pipeline loads torch: not at import (``bench.speed``'s peer subprocess times the
    # peer without it)
    from workers.fewshot.boundary import frame_spectrum
    from workers.fewshot.pipeline import (
        Embedded,
        Segmenter,
        SegmentOptions,
        deterministic,
        normalised_frames,
    )
    from workers.fewshot.pipeline.runtime import Timer
    from workers.fewshot.pixels import PixelFeatures

    opts = SegmentOptions(seed=seed)
    clock = Timer()
    frames = normalised_frames(image)
    clock.lap("normalise")
    with deterministic(seed):
        emb = np.asarray(encoder.embed(frames[0], grid), dtype=np.float32)[None]
    clock.lap("embed")
    # support-independent, kept per frame and grid by the platform's workers: a re-run
    # after a support-set edit does not pay them (``analysis.runner.images._Images.spectrum``
    # and ``.pixel_features``)
    spectrum = frame_spectrum(frames[0], grid)
    clock.lap("spectrum")
    features = PixelFeatures(grid)  # filled by the first classify
    embedded = Embedded(frames, grid, emb)
    segmenter = Segmenter.fit([embedded], [support], encoder=encoder, options=opts)
    clock.lap("fit")
    seg = segmenter.classify(
        emb[0], grid=grid, pixels=frames[0], spectrum=spectrum, pixel_features=features
    )
    clock.lap("classify_all")
    t = {**clock.timings, **{f"{key}_cpu": v for key, v in clock.cpu.items()}}
    t.update({key: v for key, v in seg.timings.items() if key != "total"})
    t.update({f"{key}_cpu": v for key, v in seg.cpu_timings.items()})
    t["cold"], t["cpu"] = sum(clock.timings.values()), sum(clock.cpu.values())
    rerun = Timer()
    Segmenter.fit([embedded], [edited], encoder=encoder, options=opts).classify(
        emb[0], grid=grid, pixels=frames[0], spectrum=spectrum, pixel_features=features
    )
    rerun.lap("rerun")
    t["rerun"], t["rerun_cpu"] = rerun.timings["rerun"], rerun.cpu["rerun"]
    return t, seg


def edited_support(support: dict[int, list[tuple[int, int]]]) -> dict[int, list[tuple[int, int]]]:
    """The support set after an edit: the last example of the class with the most removed."""
    k = max(support, key=lambda c: (len(support[c]), -c))
    if len(support[k]) < 2:
        return support
    return {c: v[:-1] if c == k else v for c, v in support.items()}


_STAGE_COLUMNS = (
    "normalise",
    "embed",
    "spectrum",
    "fit",
    "boundary",
    "classify",
    "pixels",
    "statistics",
    "rerun",
    "cold",
)


def _stage_line(r: dict) -> str:
    """Two lines: wall seconds per stage, then the process's CPU seconds (all threads; the
    cold total's CPU is ``cpu``)."""
    st = r["stages"]
    cpu = {c: st.get("cpu" if c == "cold" else f"{c}_cpu", 0.0) for c in _STAGE_COLUMNS}
    head = f"{r['size']:>5} {r['chip_size']:>4} {r['chips']:>6}"
    return (
        f"{head} wall "
        + " ".join(f"{st.get(c, 0.0):>9.3f}" for c in _STAGE_COLUMNS)
        + f" [{r['cold_min']:.2f}-{r['cold_max']:.2f}] {r['labels_sha256']}\n"
        + f"{head} cpu  "
        + " ".join(f"{cpu[c]:>9.3f}" for c in _STAGE_COLUMNS)
    )


def stage_header() -> str:
    """Column names of the lines printed by :func:`time_stages`."""
    return (
        f"{'size':>5} {'chip':>4} {'chips':>6} sec  "
        + " ".join(f"{c:>9}" for c in _STAGE_COLUMNS)
        + " [cold min-max] labels"
    )
