"""Worker stage timings of segmentation (``chiplab_bench_segment --stages``): the steps
``analysis.runner`` takes per image and frame, timed in this process without a database,
broker, worker or storage round trips, per (image size, chip size)."""

from __future__ import annotations

import functools
import io
import statistics
import tempfile

import numpy as np
from PIL import Image as PILImage

from catalog import formats
from workers.fewshot import sim
from workers.fewshot.bench.sampling import sample_support
from workers.fewshot.chipping import ChipGrid, chip_truth
from workers.fewshot.encoders import build_encoder
from workers.fewshot.pipeline import Segmenter, SegmentOptions, embed

from . import artefacts, exports, maps
from .runner import Clock, download_exports, map_exports
from .runner.downloads import pending_bytes


def _median_times(run_once, repeats: int) -> dict[str, float]:
    """Median seconds per stage over ``repeats`` calls of ``run_once() -> {stage: seconds}``."""
    runs = [run_once() for _ in range(repeats)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def stages(
    *,
    sizes: tuple[int, ...] = (4096, 3042, 1024),
    chips: tuple[int, ...] = (32, 64, 107, 128, 214, 256),
    repeats: int = 3,
    out=print,
) -> list[dict]:
    """Seconds of each step a segmentation job's worker takes, in this process (no database,
    broker or storage round trips): what ``analysis.runner`` does per image and frame.

    load: decode the original (16-bit TIFF); embed: normalise + embed every chip; save: the
    embeddings' npz; fit: prototypes + the support chips' spectral peaks; classify: labels,
    boundary refinement, statistics; preview: decode the stored 2048 px preview PNG; each
    export as the runner writes it; arrays: the result's npz; hand-over: the confidence map and
    the downloads' input, written once the map is listed ("shown" leaves them out, with the
    downloads). Medians of ``repeats`` runs after one untimed run per setting.
    """
    encoder = build_encoder("default")
    reports = []
    stages_order = ("load", "embed", "save", "fit", "classify", "pixels", "preview")
    stages_order += ("map exports", "arrays", "hand-over", "downloads")
    out(
        f"{'size':>5} {'chip':>4} {'chips':>6} "
        + " ".join(f"{k[:12]:>12}" for k in stages_order)
        + f" {'rerun':>7} {'shown':>7} {'cold':>7}"
    )
    for size in sizes:
        scene = sim.generate("sto_ge_interface", seed=0, size=(size, size))
        with tempfile.NamedTemporaryFile(suffix=".tif") as fh:
            fh.write(sim.tiff_bytes(scene))
            fh.flush()
            data = formats.read(fh.name, fmt="tiff").data
            preview_png = formats.encode_png(formats.preview(data))
            classes = [
                {"index": i, "id": str(i), "name": n, "colour": c}
                for i, (n, c) in enumerate(
                    zip(scene.class_names, ("#e41a1c", "#377eb8", "#4daf4a"), strict=False)
                )
            ]
            for chip in (c for c in chips if c <= size):
                # 3 chips per class drawn by majority (a 107 px grid has few pure chips)
                support = sample_support(chip_truth_of(scene, chip), 3, np.random.default_rng(0))

                once = functools.partial(
                    _job_steps,
                    path=fh.name,
                    scene=scene,
                    preview_png=preview_png,
                    classes=classes,
                    encoder=encoder,
                    chip=chip,
                    support=support,
                )
                once()  # untimed: FFT plans, caches
                t = _median_times(once, repeats)
                t["cold"] = sum(t.values())
                t["shown"] = t["cold"] - t["downloads"] - t["hand-over"]
                t["rerun"] = t["shown"] - t["load"] - t["embed"] - t["save"]
                report = {"size": size, "chip_size": chip, "chips": (size // chip) ** 2, **t}
                reports.append(report)
                out(
                    f"{size:>5} {chip:>4} {report['chips']:>6} "
                    + " ".join(f"{t[k]:>12.3f}" for k in stages_order)
                    + f" {t['rerun']:>7.3f} {t['shown']:>7.3f} {t['cold']:>7.3f}"
                )
    return reports


def _job_steps(*, path, scene, preview_png, classes, encoder, chip, support) -> dict:
    """One image through the runner's steps (see :func:`stages`): {step: seconds}."""
    clock = Clock()
    lap = clock.lapper()
    pixels = formats.read(path, fmt="tiff").data
    lap("load")
    embedded = embed(pixels, encoder=encoder, chip_size=chip)
    lap("embed")
    artefacts.npz_bytes(embeddings=embedded.embeddings)
    lap("save")
    segmenter = Segmenter.fit(
        [embedded],
        [support],
        encoder=encoder,
        options=SegmentOptions(),
    )
    lap("fit")
    result = segmenter.classify(
        embedded.embeddings[0],
        grid=embedded.grid,
        pixels=embedded.frames[0],
        pixel_size=scene.pixel_size,
        pixel_unit=scene.pixel_unit,
    )
    lap("classify")
    outputs = maps.pixel_outputs(
        embedded.frames[0],
        result,
        classes,
        frequencies=segmenter.frequencies,
        support=support,
        spectrum=None,
        intensity=pixels.astype(np.float32),
        pixel_size=scene.pixel_size,
        pixel_unit=scene.pixel_unit,
    )
    lap("pixels")
    preview = _decode_png(preview_png)
    lap("preview")
    geometry = {"chip_size": chip, "offset": (0, 0)}
    stats = {**result.stats, **outputs.stats}
    map_exports(outputs, classes, stats, geometry=geometry, provenance={})
    lap("map exports")
    artefacts.npz_bytes(
        labels=result.labels.astype(np.int16), probs=result.probs, confidence=result.confidence
    )
    lap("arrays")
    # after the map is listed (``runner.downloads.hand_over``): its confidence map and what
    # the downloads' task reads
    exports.confidence_png(outputs.confidence)
    pending_bytes(outputs)
    lap("hand-over")
    document = exports.result_document(
        labels=result.labels,
        probs=result.probs,
        confidence=result.confidence,
        stats=stats,
        classes=classes,
        grid={**embedded.grid.to_dict(), "id": "bench"},
        provenance={},
    )
    download_exports(
        outputs,
        classes,
        stats,
        geometry=geometry,
        calibration={"pixel_size": scene.pixel_size, "pixel_unit": scene.pixel_unit},
        title="bench",
        file_name="bench.tif",
        provenance={},
        preview=maps.native_preview(preview, pixels, 0),
        document=document,
    )
    lap("downloads")
    return clock.timings


def _decode_png(data: bytes) -> np.ndarray:
    """The grey preview as the runner reads it from storage."""
    with PILImage.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("L"))


def chip_truth_of(s, chip: int) -> np.ndarray:
    return chip_truth(s.truth, ChipGrid.for_shape(s.truth.shape, chip))
