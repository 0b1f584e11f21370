"""Particle benchmark: counts and median sizes of instances from pixel maps (``objects``).

``python -m workers.fewshot.bench.objects [--images 2] [--size 512] [--cases a,b] [--no-peer]
[--no-speed] [--no-real] [--json PATH]`` (``--no-real``: generated scenes only, for tuning)

Scenes with known instances:

- generated here (``touching_scene``): discs, many in touching / slightly overlapping pairs
  and triples, and isolated ellipses; truth ids per particle (an overlap pixel belongs to the
  particle it is relatively deepest in). Cases: small touching discs (4-8 px diameter),
  touching discs (8-32 px), ellipses (aspect 1.5-3.5), a log-normal mixture of clusters and
  ellipses;
- the simulator's particle cases (``sim.generate``: particles never touch, >= 3 px apart),
  truth instances = 8-connected components of each particle class.

Four pixel maps per scene: Chiplab's (``chiplab_map``: the default encoder's chip segmentation
from k = 5 support chips per class, then ``pixels.pixel_map``: what a job gives), the
TRUE class mask (measures splitting and measuring alone), the
pixel map of the ilastik-style peer (``peer_map``: ``bench.methods.PixelForestPeer``'s pixel
step, multiscale features + random forest on the pixels of k = 5 support chips per class, each
pixel labelled with its chip's class, before its chip vote) and the same forest trained on the
same chips with each pixel's own class (``ilastik_map``: support painted with a brush).
Three ways to get particles from each map: ``objects`` (``instances``, watershed split,
defaults), ``objects_cc`` (``split="none"``, same size filter) and ``regionprops``
(scikit-image ``label`` + ``regionprops``, everything kept: the plain recipe); with several
particle kinds, also ``objects_union`` (instances of the union of the kinds, each assigned its
majority kind) and a class ``any`` (every kind merged). Errors are
relative to the truth instances: count over all particles and over those of >= 4 px
equivalent diameter (``err_4px``: the issue's goal; edge slivers of a few px left out on both
sides), median equivalent diameter over particles that do not touch the image edge (each
side's own edge flags), pooled over images. Timings: the particle table (``instances``,
``instance_rows``, ``size_distribution``) of a 1024^2 and a 4096^2 map of the lognormal
mixture, CPU and wall seconds (``bench.object_speed``, which also times the pixel map).
Settings (neck, min_peak_px, min_area_px) were chosen on these generated and simulated scenes.

The real MoO3 STEM DF image (``$CHIPLAB_SHARED_DATA``) is reported, never tuned on: its
hand-checked mask (values 1 and 2 are particle; 18 particles) through ``instances``, and the
peer's and the brush-labelled forest's maps from 5 support chips per class of its chip truth
(3 draws; the brush labels come from the mask, support chips only). Its TIFF (JEOL
TemReporter) has a magnification but no pixel size, so its sizes are in px.
"""

from __future__ import annotations

import argparse
import json
import time
import zlib

import numpy as np
from scipy import ndimage

from workers.fewshot.bench.object_scenes import (
    CASES,
    SIM_CASES,
    ObjectCase,
    chiplab_pixel_map,
    peer_pixel_map,
    scenes,
    touching_scene,
)
from workers.fewshot.bench.object_speed import table_times
from workers.fewshot.chipping import ChipGrid, chip_truth
from workers.fewshot.objects import instances, size_distribution
from workers.fewshot.unseen.real import RealDataMissing, load_real

__all__ = ["CASES", "ObjectCase", "peer_pixel_map", "run", "touching_scene"]


MIN_DIAMETER_PX = 4.0  # the goal: counts of particles of >= 4 px (eq. diameter)


def _regionprops(class_map: np.ndarray, class_id: int) -> tuple[int, np.ndarray, int]:
    """The plain recipe: 8-connected ``label`` + ``regionprops`` -> (count, interior
    diameters, count of >= 4 px)."""
    from skimage.measure import label, regionprops  # heavy: only this recipe needs it

    lab = label(class_map == class_id, connectivity=2)
    border = set(np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])).tolist())
    props = regionprops(lab)
    diam = [p.equivalent_diameter_area for p in props if p.label not in border]
    big = sum(p.equivalent_diameter_area >= MIN_DIAMETER_PX for p in props)
    return len(props), np.asarray(diam), int(big)


def _measure(class_map, class_id, method, kinds=()) -> tuple[int, np.ndarray, int]:
    """(count, interior equivalent diameters, count of >= 4 px) by one method."""
    if method == "regionprops":
        return _regionprops(class_map, class_id)
    if method == "objects_union":  # found on the union of the kinds, kept by majority class
        inst = instances(class_map, list(kinds))
        keep = inst.classes == class_id
    else:
        split = "watershed" if method == "objects" else "none"
        inst = instances(class_map, class_id, split=split)
        keep = np.ones(inst.n, bool)
    d = inst.equivalent_diameter_px
    return int(keep.sum()), d[keep & ~inst.edge], int((keep & (d >= MIN_DIAMETER_PX)).sum())


def _truth_counts(inst_truth: np.ndarray) -> tuple[int, np.ndarray, int]:
    """(count, interior eq. diameters, count of >= 4 px) of a truth instance map (0 = none)."""
    n = int(inst_truth.max())
    area = np.bincount(inst_truth.ravel(), minlength=n + 1)[1:]
    edge = np.zeros(n + 1, bool)
    for side in (inst_truth[0], inst_truth[-1], inst_truth[:, 0], inst_truth[:, -1]):
        edge[side] = True
    keep = (area > 0) & ~edge[1:]
    big = int((np.sqrt(4 * area / np.pi) >= MIN_DIAMETER_PX).sum())
    return int((area > 0).sum()), np.sqrt(4 * area[keep] / np.pi), big


METHODS = ("objects", "objects_cc", "regionprops")
ANY = -1  # pseudo class: every particle class merged


def _errors(n_meas, d_meas, n_true, d_true, big_meas, big_true) -> dict:
    med_t = float(np.median(d_true)) if d_true.size else float("nan")
    med_m = float(np.median(d_meas)) if d_meas.size else float("nan")
    return {
        "n_true": n_true,
        "n": n_meas,
        "count_error": (n_meas - n_true) / n_true if n_true else float("nan"),
        "n4_true": big_true,
        "n4": big_meas,
        "count_error_4px": (big_meas - big_true) / big_true if big_true else float("nan"),
        "median_true_px": med_t,
        "median_px": med_m,
        "median_error": (med_m - med_t) / med_t if d_true.size else float("nan"),
    }


def run_case(name: str, *, images: int, size: int, peer: bool, k: int = 5) -> list[dict]:
    """Rows {case, class, source, method, n_true, n, count_error, median_*} pooled over images."""
    pooled: dict = {}
    for i, (image, class_map, per_class, chip) in enumerate(scenes(name, images, size)):
        maps = {"truth_mask": class_map}
        if peer:
            grid = ChipGrid.for_shape(class_map.shape, chip)
            chips = chip_truth(class_map, grid)
            rng = np.random.default_rng([i, zlib.crc32(name.encode()), k])
            maps["peer_map"] = peer_pixel_map(image, chips, grid, k=k, rng=rng)
            rng = np.random.default_rng([i, zlib.crc32(name.encode()), k])  # same chips
            maps["chiplab_map"] = chiplab_pixel_map(image, chips, grid, k=k, rng=rng)
            rng = np.random.default_rng([i, zlib.crc32(name.encode()), k])  # same chips
            maps["ilastik_map"] = peer_pixel_map(
                image, chips, grid, k=k, rng=rng, pixel_truth=class_map
            )
        if len(per_class) > 1:  # several particle kinds: also count particles of any kind
            per_class[ANY] = ndimage.label(class_map > 0, structure=np.ones((3, 3), bool))[0]
        for c, truth in per_class.items():
            n_t, d_t, b_t = _truth_counts(truth)
            key_t = (c, "truth")
            acc = pooled.setdefault(key_t, [0, [], 0])
            acc[0] += n_t
            acc[1].append(d_t)
            acc[2] += b_t
            for source, cmap in maps.items():
                if c == ANY:
                    cmap = (cmap > 0).astype(np.int32)
                kinds = [k for k in per_class if k != ANY]
                union = ("objects_union",) if c != ANY and len(kinds) > 1 else ()
                for method in METHODS + union:
                    n_m, d_m, b_m = _measure(cmap, 1 if c == ANY else c, method, kinds)
                    acc = pooled.setdefault((c, source, method), [0, [], 0])
                    acc[0] += n_m
                    acc[1].append(d_m)
                    acc[2] += b_m
    rows = []
    for key, (n_m, ds, b_m) in pooled.items():
        if key[1] == "truth":
            continue
        c, source, method = key
        n_t, dt, b_t = pooled[(c, "truth")]
        row = _errors(n_m, np.concatenate(ds), n_t, np.concatenate(dt), b_m, b_t)
        rows.append({"case": name, "class": c, "source": source, "method": method} | row)
    return rows


def run_moo3(*, peer: bool, k: int = 5, draws: int = 3) -> dict:
    """The real MoO3 image: counts from its mask and from the peer's map (truth: 18)."""

    try:
        real = load_real("real_moo3_particles")
    except RealDataMissing as exc:
        return {"skipped": str(exc)}
    labels = (real.mask > 0).astype(np.int32)  # 1 particle and 2 edge band are both particle
    out: dict = {"n_true": 18, "pixel_size": None, "unit": "px"}
    for split in ("watershed", "none"):
        inst = instances(labels, 1, split=split, intensity=real.image)
        dist = size_distribution(inst, n_boot=200)
        out[f"mask_{split}"] = {
            "n": inst.n,
            "n_edge": inst.n_edge,
            "areas_px": [int(inst.area_px.min()), int(inst.area_px.max())],
            "median_diameter_px": dist["median"],
            "median_ci": dist.get("bootstrap", {}).get("intervals", {}).get("median"),
        }
    if peer:
        grid = ChipGrid.for_shape(real.image.shape, real.chip_size, real.offset)
        for key, truth in (("peer_map", None), ("ilastik_map", labels), ("chiplab_map", None)):
            counts = {m: [] for m in METHODS}
            for draw in range(draws):
                rng = np.random.default_rng([draw, zlib.crc32(b"moo3"), k])
                if key == "chiplab_map":
                    pmap = chiplab_pixel_map(real.image, real.chip_labels, grid, k=k, rng=rng)
                else:
                    pmap = peer_pixel_map(
                        real.image, real.chip_labels, grid, k=k, rng=rng, pixel_truth=truth
                    )
                for m in METHODS:
                    counts[m].append(_measure(pmap, 1, m)[0])
            out[f"{key}_counts"] = counts
    return out


def _fmt(rows: list[dict]) -> str:
    head = f"{'case':28s} {'cls':>3s} {'map':11s} {'method':12s} {'n_true':>6s} {'n':>6s}"
    head += f" {'count_err':>9s} {'n4_true':>7s} {'n4':>6s} {'err_4px':>8s}"
    head += f" {'med_true':>8s} {'median':>8s} {'med_err':>8s}"
    lines = [head]
    for r in rows:
        lines.append(
            f"{r['case']:28s} {'any' if r['class'] == ANY else r['class']:>3} "
            f"{r['source']:11s} {r['method']:12s} "
            f"{r['n_true']:6d} {r['n']:6d} {r['count_error']:+9.1%} "
            f"{r['n4_true']:7d} {r['n4']:6d} {r['count_error_4px']:+8.1%} "
            f"{r['median_true_px']:8.2f} {r['median_px']:8.2f} {r['median_error']:+8.1%}"
        )
    return "\n".join(lines)


def run(
    *,
    images: int = 2,
    size: int = 512,
    peer: bool = True,
    cases=None,
    speed: bool = True,
    real: bool = True,
) -> dict:
    """All cases (generated + simulator), the MoO3 report (unless not ``real``: tuning) and
    the speed figure."""
    names = list(cases or [*CASES, *SIM_CASES])
    rows = []
    for name in names:
        rows.extend(run_case(name, images=images, size=size, peer=peer))
    result = {"rows": rows, "moo3": run_moo3(peer=peer) if real else None}
    if speed:
        result["speed"] = [table_times(1024), table_times(4096)]
    return result


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=2, help="images per case (default 2)")
    p.add_argument("--size", type=int, default=512, help="image side in px (default 512)")
    p.add_argument("--cases", default=None, help="comma list (default: all)")
    p.add_argument("--no-peer", action="store_true", help="truth masks only (fast)")
    p.add_argument("--no-speed", action="store_true", help="skip the 1024^2 and 4096^2 timings")
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument(
        "--no-real", action="store_true", help="generated scenes only (no MoO3): for tuning"
    )
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    result = run(
        images=a.images,
        size=a.size,
        peer=not a.no_peer,
        cases=a.cases.split(",") if a.cases else None,
        speed=not a.no_speed,
        real=not a.no_real,
    )
    print(_fmt(result["rows"]))
    if result["moo3"] is not None:
        print("\nMoO3 (truth 18 particles):", json.dumps(result["moo3"]))
    for s in result.get("speed", []):
        print(
            f"\nparticle table {s['size']}^2 map, {s['n']} particles: {s['total_cpu']:.2f} s CPU "
            f"({s['total_wall']:.2f} s wall): instances {s['instances_cpu']:.2f} s "
            f"({s['instances_wall']:.2f}), rows {s['rows_cpu']:.2f} s ({s['rows_wall']:.2f}), "
            f"size_distribution {s['distribution_cpu']:.2f} s ({s['distribution_wall']:.2f})"
        )
    if "speed" in result:
        print("(wall time depends on what else runs on the machine; CPU time less so)")
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
