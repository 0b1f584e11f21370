"""Speed of a pixel map and its particle table (issue 13: a 4096^2 image in at most 3 s, a
1024^2 one in 0.5 s, on the 2-core CPU).

``python -m workers.fewshot.bench.object_speed [--sizes 1024,4096] [--chip 16] [--repeats 3]
[--save PATH] [--compare PATH]``

Scene: the particle benchmark's log-normal mixture (``bench.objects``: touching discs in
clusters and ellipses, a quarter of the area), 1024^2 tiles repeated to the size. Stages, in
process CPU seconds (every thread, idle OpenMP threads sleeping; on this shared machine they
vary less than wall seconds, which are printed next to them with the load average), medians
over ``repeats`` runs after one warm-up run:

- ``spectrum``: ``boundary.frame_spectrum``; the core computes it once per frame (boundary
  features use it too) and a re-run keeps it, so it is not the pixel map's;
- ``pixel map``: ``pixels.pixel_map`` with fresh frame features (what a cold job pays: its
  features, fit and map), from a chip map made up from the truth (each chip's class
  probabilities 0.1 + 0.8 x its share of the class, three support chips per class; 16 px
  chips, the scene's in ``bench.objects``: 32 px chips label few particle chips, and the
  pixel map then finds a third of the particles), and
  ``chip_shares`` (the core's pixel vote);
- ``particle table``: ``objects.instances`` (split and measures), ``instance_rows`` and
  ``size_distribution`` (1000 bootstrap draws) of the truth mask: every particle of the
  scene (19,264 at 4096^2), more than a pixel map of it finds, so an upper bound.

``--save`` writes every output (pixel labels and confidence, instance map and measurements,
particle table rows, size distribution) of every size; ``--compare`` checks them against a
saved file (two code versions: labels identical, measurements to float rounding).
"""

from __future__ import annotations

import os

if __name__ == "__main__":  # before torch loads: its idle OpenMP threads sleep, not spin, so
    # that CPU seconds count work (spinning made the pixel map's at 1024^2 six times as many)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import math
from collections.abc import Callable

import numpy as np

from workers.fewshot.bench.object_scenes import CASES, touching_scene
from workers.fewshot.bench.sampling import sample_support
from workers.fewshot.boundary import frame_spectrum
from workers.fewshot.chipping import ChipGrid, normalise
from workers.fewshot.frequencies import support_frequencies
from workers.fewshot.objects import instance_rows, instances, size_distribution
from workers.fewshot.pipeline import Segmentation
from workers.fewshot.pipeline.runtime import Timer
from workers.fewshot.pixels import PixelFeatures, chip_shares, pixel_map

__all__ = ["main", "scene", "table_times", "time_all"]

TABLE_BOOTSTRAP = 1000  # the platform's (analysis.maps.OBJECT_BOOTSTRAP)


def scene(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(image (size, size) float32, class map (size, size) int32: 1 particle, 0 support): the
    log-normal mixture's 1024^2 scene, tiled."""
    rng = np.random.default_rng(0)
    image, truth = touching_scene(CASES["lognormal_mixture"], rng, (1024, 1024))
    reps = -(-size // 1024)
    tile = (reps, reps)
    return (
        np.tile(image, tile)[:size, :size],
        np.tile((truth > 0).astype(np.int32), tile)[:size, :size],
    )


def _record(times: dict[str, list[float]], timer: Timer) -> None:
    """One run's CPU and wall seconds per stage, appended to ``times`` (``stage_cpu``,
    ``stage_wall``)."""
    for stage, wall in timer.timings.items():
        times.setdefault(f"{stage}_cpu", []).append(timer.cpu[stage])
        times.setdefault(f"{stage}_wall", []).append(wall)


def _table(labels: np.ndarray, image: np.ndarray, clock: Timer) -> dict:
    """The particle table of ``labels``'s class 1, as a job makes it (calibrated: 0.5 nm)."""
    inst = instances(labels, 1, intensity=image, pixel_size=0.5, pixel_unit="nm")
    clock.lap("instances")
    rows = instance_rows(inst)
    clock.lap("rows")
    dist = size_distribution(inst, n_boot=TABLE_BOOTSTRAP)
    clock.lap("distribution")
    return {"inst": inst, "rows": rows, "dist": dist}


def table_times(size: int, *, repeats: int = 1) -> dict:
    """CPU and wall seconds (medians) of the particle table of the ``size``^2 scene's truth
    mask: instances, rows, distribution and their total; ``n`` particles."""
    image, labels = scene(size)
    times: dict[str, list[float]] = {}
    for _ in range(repeats):
        clock = Timer()
        out = _table(labels, image, clock)
        _record(times, clock)
    return {"size": size, "n": out["inst"].n} | _medians(times, _TABLE)


def _chip_map(image: np.ndarray, labels: np.ndarray, chip: int):
    """A made-up chip segmentation of the scene (module doc) and what ``pixel_map`` needs:
    (frame, Segmentation, support, frequencies)."""
    frame = normalise(image)
    grid = ChipGrid.for_shape(frame.shape, chip)
    classes = (0, 1)
    shares = chip_shares(labels, grid, classes).reshape(grid.rows, grid.cols, 2)
    probs = (0.1 + 0.8 * shares).astype(np.float32)
    probs /= probs.sum(-1, keepdims=True)
    chip_labels = probs.argmax(-1)
    support = sample_support(chip_labels, 3, np.random.default_rng(0))
    freqs = support_frequencies([frame], [grid], [support])
    seg = Segmentation(chip_labels, probs, probs.max(-1), {}, {}, grid, classes)
    return frame, seg, support, freqs


_STAGES = ("spectrum", "pixel_map", "shares", "instances", "rows", "distribution")
_PIXELS, _TABLE = ("pixel_map", "shares"), ("instances", "rows", "distribution")


def _medians(times: dict[str, list[float]], stages) -> dict:
    out = {k: float(np.median(v)) for k, v in times.items()}
    for unit in ("cpu", "wall"):
        out[f"total_{unit}"] = sum(out[f"{s}_{unit}"] for s in stages)
    return out


def time_all(size: int, *, chip: int = 16, repeats: int = 3, keep: Callable | None = None) -> dict:
    """Seconds per stage (module doc) at ``size``^2: medians over ``repeats`` runs after a
    warm-up; ``keep(outputs)`` receives the last run's outputs."""
    image, labels = scene(size)
    frame, seg, support, freqs = _chip_map(image, labels, chip)
    times: dict[str, list[float]] = {}
    for i in range(repeats + 1):
        clock = Timer()
        spectrum = frame_spectrum(frame, seg.grid)
        clock.lap("spectrum")
        pm = pixel_map(
            frame,
            seg,
            frequencies=freqs,
            support=support,
            spectrum=spectrum,
            features=PixelFeatures(seg.grid),
            object_classes=(1,),  # the particles, marked as objects as a job marks them
        )
        clock.lap("pixel_map")
        chip_shares(pm.labels, seg.grid, seg.classes)
        clock.lap("shares")
        out = _table(labels, image, clock)
        if i:  # the first run warms up
            _record(times, clock)
    if keep is not None:
        keep({"pixel_map": pm, **out})
    report = {"size": size, "chip": chip, "n": out["inst"].n, "repeats": repeats}
    report |= _medians(times, _STAGES)
    for name, stages in (("pixels", _PIXELS), ("table", _TABLE)):
        for unit in ("cpu", "wall"):
            report[f"{name}_{unit}"] = sum(report[f"{s}_{unit}"] for s in stages)
    report["loadavg"] = os.getloadavg()[0]
    return report


def _line(r: dict) -> str:
    def both(key):
        return f"{r[f'{key}_cpu']:.3f} ({r[f'{key}_wall']:.2f})"

    stages = ", ".join(f"{s} {both(s)}" for s in _STAGES)
    return (
        f"{r['size']}^2, chip {r['chip']} px, {r['n']} particles: pixel map + particle table "
        f"{r['pixels_cpu'] + r['table_cpu']:.2f} s CPU ({r['pixels_wall'] + r['table_wall']:.2f}"
        f" s wall, load {r['loadavg']:.1f}); pixel map {both('pixels')}, particle table "
        f"{both('table')}\n    {stages}"
    )


# ----------------------------------------------------------------------------- outputs


def _arrays(outputs: dict, size: int) -> dict[str, np.ndarray]:
    """Every output as arrays named "size/output" (for ``--save`` / ``--compare``)."""
    pm, inst = outputs["pixel_map"], outputs["inst"]
    arrays = {"pixel_labels": pm.labels, "pixel_confidence": pm.confidence}
    for key, value in vars(inst).items():
        if isinstance(value, np.ndarray):
            arrays[f"inst.{key}"] = value
    for key in ("rows", "dist"):  # JSON-ready: compared as JSON
        arrays[key] = np.frombuffer(json.dumps(outputs[key]).encode(), np.uint8)
    return {f"{size}/{k}": v for k, v in arrays.items()}


def _compare(saved: dict[str, np.ndarray], now: dict[str, np.ndarray]) -> list[str]:
    """One line per output: identical, or how far apart."""
    lines = []
    for key in sorted(set(saved) | set(now)):
        a, b = saved.get(key), now.get(key)
        if a is None or b is None or a.shape != b.shape:
            lines.append(
                f"{key}: shape {None if a is None else a.shape} -> {None if b is None else b.shape}"
            )
        elif key.endswith(("/rows", "/dist")):
            lines.append(f"{key}: {_json_diff(a, b)}")
        elif np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
            lines.append(f"{key}: identical")
        else:
            diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
            scale = np.maximum(np.abs(a.astype(np.float64)), 1e-300)
            lines.append(
                f"{key}: {np.count_nonzero(diff)} differ, max abs {np.nanmax(diff):.3g}, "
                f"max rel {np.nanmax(diff / scale):.3g}"
            )
    return lines


def _json_diff(a: np.ndarray, b: np.ndarray) -> str:
    """How far two JSON documents (bytes) are apart: the largest relative change of a number
    (inf where anything else differs, key order included)."""
    if a.tobytes() == b.tobytes():
        return "identical"
    worst = 0.0

    def walk(p, q):
        nonlocal worst
        if isinstance(p, float) and isinstance(q, float):
            if p != p or q != q:  # NaN: the same only where both are
                worst = worst if (p != p) == (q != q) else math.inf
            else:
                worst = max(worst, abs(p - q) / max(abs(p), 1e-300))
        elif isinstance(p, dict) and isinstance(q, dict) and list(p) == list(q):
            for k in p:
                walk(p[k], q[k])
        elif isinstance(p, list) and isinstance(q, list) and len(p) == len(q):
            for u, v in zip(p, q, strict=True):
                walk(u, v)
        elif p != q:
            worst = math.inf

    walk(json.loads(a.tobytes()), json.loads(b.tobytes()))
    return f"max rel {worst:.3g}"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1024,4096", help="image sides (default 1024,4096)")
    p.add_argument("--chip", type=int, default=16, help="chip size (default 16)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs after a warm-up (3)")
    p.add_argument("--save", help="write the outputs here (.npz)")
    p.add_argument("--compare", help="compare the outputs with those saved in this .npz")
    p.add_argument("--json", help="write the timings here")
    a = p.parse_args(argv)
    reports, kept = [], {}
    for size in (int(s) for s in a.sizes.split(",")):
        reports.append(
            time_all(
                size,
                chip=a.chip,
                repeats=a.repeats,
                keep=lambda o, s=size: kept.update(_arrays(o, s)),
            )
        )
        print(_line(reports[-1]), flush=True)
    print("(CPU: process time of every thread; wall in brackets, load: 1 min load average)")
    if a.save:
        np.savez_compressed(a.save, **kept)
    if a.compare:
        with np.load(a.compare) as saved:
            print("\n".join(_compare(dict(saved), kept)))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(reports, fh, indent=1)


if __name__ == "__main__":
    main()
