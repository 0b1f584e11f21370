"""Command line: ``python -m workers.fewshot.bench [--quick] [--set all] [--json PATH] ...``.

Accuracy is reported per case set (bench.suites): seen (selection), selection (selection),
unseen (report), real micrographs (report); settings are chosen on seen and on the selection set
(every group), never on the report sets.
"""

from __future__ import annotations

import os

# torch and scikit-learn ship different OpenMP runtimes; with the default active waiting, the
# threads of one keep spinning for a while after its parallel region and steal the cores from
# the other, which adds ~0.4 s to whichever method runs next in this process. Passive waiting
# makes the timings of interleaved methods independent (it slows torch's short parallel loops
# a little, so the speed section times each method in its own process with the user's
# setting). Set before torch / sklearn initialise OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass

import torch

from workers.fewshot.bench.methods import (
    EncoderMethod,
    PeerConfig,
    PixelForestPeer,
    available_encoders,
    weights_fingerprint,
)
from workers.fewshot.bench.report import format_sets, summarise
from workers.fewshot.bench.run import AccuracyConfig, all_cases, run_case
from workers.fewshot.bench.speed import (
    measure_in_subprocess,
    speed_compare,
    stage_header,
    time_stages,
)
from workers.fewshot.bench.suites import SETS

ENCODERS = ("default", "fourier")


@dataclass(frozen=True)
class Mode:
    """Workload of one benchmark mode (accuracy part and speed part)."""

    size: int
    draws: int
    images: int
    speed_size: int
    big_size: int | None


FULL = Mode(size=512, draws=10, images=2, speed_size=1024, big_size=4096)
QUICK = Mode(size=384, draws=2, images=1, speed_size=1024, big_size=4096)


def _select_cases(spec: str | None, sets: tuple[str, ...] = tuple(SETS)) -> list[str]:
    """Case names of ``sets`` from a comma list of case or group names (default: all)."""
    cases = all_cases(sets)
    if not spec:
        return list(cases)
    out: list[str] = []
    for item in spec.split(","):
        item = item.strip()
        matched = [c for c, g in cases.items() if item in (c, g)]
        if not matched:
            raise SystemExit(f"unknown case or group {item!r}; cases: {', '.join(cases)}")
        out += [c for c in matched if c not in out]
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the tables and optionally write every figure as JSON."""
    a = _parser().parse_args(argv)
    sets = tuple(SETS) if a.set == "all" else (a.set,)
    if a.list:
        _list_cases()
        return 0
    mode = QUICK if a.quick else FULL
    cfg = AccuracyConfig(
        cases=tuple(_select_cases(a.cases, sets)),
        size=(a.size or mode.size,) * 2,
        ks=tuple(int(k) for k in a.ks.split(",")),
        draws=a.draws or mode.draws,
        images=min(mode.images, a.draws or mode.draws),
        seed=a.seed,
    )
    encoders, skipped = available_encoders(
        [e for e in a.encoders.split(",") if e], weights=a.weights
    )
    for name, enc in encoders.items():
        fingerprint = weights_fingerprint(enc)
        print(f"encoder {name!r}: D={enc.dim}, weights {fingerprint or 'none (training-free)'}")
    for name, why in skipped.items():
        print(f"NOTE: encoder {name!r} not available, skipped: {why}")
    methods = _methods(a, encoders)
    if not methods:
        print("nothing to run")
        return 1
    print(
        f"chiplab few-shot bench ({'quick' if a.quick else 'full'}): sets {list(sets)}, "
        f"{len(cfg.cases)} cases, "
        f"{cfg.size[0]}px images, {cfg.chip_size}px chips, k={list(cfg.ks)}, "
        f"{cfg.draws} draws, methods={[m.name for m in methods]}, "
        f"boundary refinement {'off' if a.no_boundary else 'on'}"
    )
    t_start = time.perf_counter()
    _warm_up(methods, cfg)
    trials = []
    for case in cfg.cases:
        t0 = time.perf_counter()
        trials += run_case(case, cfg, methods)
        print(f"  {case:28s} done in {time.perf_counter() - t0:5.1f}s", flush=True)
    titles = {name: SETS[name].title for name in sets}
    summary = {
        name: summarise([t for t in trials if t.suite == name])
        for name in sets
        if any(t.suite == name for t in trials)
    }
    print(format_sets(summary, titles))
    results = {
        "config": asdict(cfg),
        "mode": asdict(mode),
        "skipped_encoders": skipped,
        "encoders": {
            n: {"dim": e.dim, "config": e.config(), "weights_sha256_16": weights_fingerprint(e)}
            for n, e in encoders.items()
        },
        "default_weights": a.weights or "committed",
        "boundary_refinement": not a.no_boundary,
        "peer": asdict(PeerConfig(seed=a.seed)),
        "sets": titles,
        "summary": summary,
        "trials": [asdict(t) for t in trials],
        "environment": _environment(),
    }
    if not a.no_uncertainty:
        results["uncertainty"] = _uncertainty(a, mode, sets, encoders)
    if not a.no_speed:
        results["speed"] = _speed(a, mode, encoders)
    results["elapsed_seconds"] = time.perf_counter() - t_start
    print(f"\ntotal {results['elapsed_seconds']:.0f}s")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(results, fh, indent=1, default=float)
        print(f"figures written to {a.json}")
    return 0


def _environment() -> dict:
    """Where the figures were measured."""
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "machine": platform.machine(),
    }


def _parser() -> argparse.ArgumentParser:
    """The command line of ``python -m workers.fewshot.bench``."""
    p = argparse.ArgumentParser(
        prog="python -m workers.fewshot.bench",
        description="Few-shot engine vs pixel-classifier peer.",
    )
    p.add_argument("--quick", action="store_true", help="384 px images, 2 draws (~1-2 min)")
    p.add_argument("--json", metavar="PATH", help="write all figures to this JSON file")
    p.add_argument(
        "--set",
        default="all",
        choices=[*SETS, "all"],
        help="case set: seen, selection (settings are chosen on these two), "
        "unseen, real (report), or all",
    )
    p.add_argument("--cases", help="comma list of cases or groups (lattices, particles, textures)")
    p.add_argument("--encoders", default=",".join(ENCODERS), help="engine encoders to run")
    p.add_argument("--ks", default="1,3,5", help="support chips per class, comma list")
    p.add_argument("--draws", type=int, help="support draws per (case, k)")
    p.add_argument("--size", type=int, help="image size for the accuracy part")
    p.add_argument("--seed", type=int, default=0, help="base seed of images and support draws")
    p.add_argument(
        "--weights",
        metavar="DIR",
        help="default-encoder weights directory (e.g. from workers.fewshot.train); "
        "default: the committed weights",
    )
    p.add_argument("--no-peer", action="store_true", help="skip the pixel-classifier peer")
    p.add_argument(
        "--no-boundary",
        action="store_true",
        help="engine without the boundary refinement (SegmentOptions.boundary=None)",
    )
    p.add_argument(
        "--no-pixel-vote",
        action="store_true",
        help="also run each encoder without the pixel vote (SegmentOptions.pixel_vote=False; "
        "named <encoder>-chips)",
    )
    p.add_argument(
        "--object-kinds",
        action="store_true",
        help="also run each encoder with one kind per particle on particle cases "
        "(SegmentOptions.object_kinds, a job's opt-in param; named <encoder>-kinds)",
    )
    p.add_argument("--no-speed", action="store_true", help="skip the speed section")
    p.add_argument(
        "--no-uncertainty",
        action="store_true",
        help="skip the uncertainty section (calibration, interval coverage and width)",
    )
    p.add_argument("--big", type=int, help="size of the time/memory run (0 = skip)")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    return p


def _list_cases() -> None:
    """Print every case of every set (--list)."""
    # the sets' generators and the real-data reader: only the listing needs them here
    from workers.fewshot import selection, sim, unseen
    from workers.fewshot.unseen.real import REAL_CASES

    for name, spec in (sim.CASES | sim.TEXTURE_CASES).items():
        print(f"seen    {name:30s} {spec.group:10s} {spec.description}")
    for name, case in selection.SELECTION_CASES.items():
        print(f"select  {name:30s} {case.group:10s} {case.description}")
    for name, case in unseen.UNSEEN_CASES.items():
        print(f"unseen  {name:30s} {case.group:10s} {case.description}")
    for name, case in REAL_CASES.items():
        print(f"real    {name:30s} {case.group:10s} {case.image}")


def _methods(a: argparse.Namespace, encoders: dict) -> list:
    """The methods to run: each encoder (and its chips-only variant with --no-pixel-vote, its
    one-kind-per-particle variant with --object-kinds), then the peer unless --no-peer."""
    methods = [
        EncoderMethod(n, e, seed=a.seed, boundary=not a.no_boundary) for n, e in encoders.items()
    ]
    if a.no_pixel_vote:
        methods += [
            EncoderMethod(
                f"{n}-chips", e, seed=a.seed, boundary=not a.no_boundary, pixel_vote=False
            )
            for n, e in encoders.items()
        ]
    if a.object_kinds:
        methods += [
            EncoderMethod(
                f"{n}-kinds", e, seed=a.seed, boundary=not a.no_boundary, object_kinds=True
            )
            for n, e in encoders.items()
        ]
    if not a.no_peer:
        methods.append(PixelForestPeer(PeerConfig(seed=a.seed)))
    return methods


def _warm_up(methods: list, cfg: AccuracyConfig) -> None:
    """Run every method once, untimed, on a small image.

    The first torch / scikit-learn call pays one-off initialisation that would otherwise be
    charged to the first case.
    """
    tiny = AccuracyConfig(
        cases=cfg.cases[:1],
        size=(128, 128),
        chip_size=cfg.chip_size,
        ks=(1,),
        draws=1,
        images=1,
        seed=cfg.seed,
    )
    run_case(tiny.cases[0], tiny, methods, log=lambda _: None)


def _uncertainty(a: argparse.Namespace, mode: Mode, sets: tuple[str, ...], encoders: dict) -> dict:
    """Print and return the uncertainty section (``bench.uncertainty``: ECE, coverage and
    width of the fraction intervals, held-out support check) for the same sets and k."""
    # local: its generic names (run, format_table) are this section's only
    from workers.fewshot.bench.uncertainty import format_table, run

    print(
        "\n== uncertainty (through the core; before = encoder temperature + support bootstrap) =="
    )
    names = tuple(e for e in ("default", "fourier") if e in encoders)
    results = run(
        sets=sets,
        encoders=names,
        ks=tuple(int(k) for k in a.ks.split(",")),
        draws=max(1, (a.draws or mode.draws) // 2),
        log=lambda line: print(line, flush=True),
        built={e: encoders[e] for e in names},
    )
    print(format_table(results))
    return results


def _speed(a: argparse.Namespace, mode: Mode, encoders: dict) -> dict:
    """Print and return the speed section (engine vs peer at 1024^2, big-image time and memory)."""
    out: dict = {}
    name = "default" if "default" in encoders else next(iter(encoders), None)
    print("\n== speed ==")
    if name is None:
        print("no engine encoder available: speed section skipped")
        return out
    if name != "default":
        print(f"NOTE: default encoder unavailable, speed measured with {name!r}")
    weights = a.weights if name == "default" else None
    s = speed_compare(encoder=name, weights=weights, size=mode.speed_size, chip=32, seed=a.seed)
    if "error" in s:
        print(f"speed comparison failed: {s['error']}")
        return out
    s["encoder"] = name
    out["compare"] = s
    stages = ", ".join(f"{k} {v:.3f}" for k, v in s["engine_stages"].items())
    print(f"{s['size']}x{s['size']} px, {s['chip_size']}px chips ({s['chips']} chips), k={s['k']}:")
    print(
        f"  engine ({name}) segment: {s['engine_seconds']:.3f}s median of {s['engine_runs']} "
        f"(first call {s['engine_first_seconds']:.2f}s) [{stages}]"
    )
    print(
        f"  peer (features {s['peer_features_seconds']:.2f}s + fit/predict "
        f"{s['peer_fit_predict_seconds']:.2f}s): {s['peer_seconds']:.2f}s median of "
        f"{s['peer_runs']}  -> speedup {s['speedup']:.1f}x"
    )
    print(
        f"stages per chip size (wall s, medians of 3; {name} encoder; in this process, whose "
        "passive OpenMP waiting slows torch: `python -m workers.fewshot.bench.speed --part "
        "stages` times them on their own):"
    )
    print("  " + stage_header())
    out["stages"] = []
    for size in (mode.speed_size, mode.big_size if a.big is None else a.big):
        if size:
            out["stages"] += time_stages(
                encoders[name],
                size=size,
                chips=tuple(c for c in (32, 64, 128, 256) if c <= size),
                seed=a.seed,
                out=lambda line: print("  " + line, flush=True),
            )
    big = mode.big_size if a.big is None else a.big
    if big:
        b = measure_in_subprocess(size=big, chip=64, encoder=name, seed=a.seed, weights=weights)
        out["big"] = b
        if "error" in b:
            print(f"{big}x{big} px run failed: {b['error']}")
        else:
            print(
                f"{big}x{big} px, 64px chips ({b['chips']} chips): segment {b['seconds']:.2f}s, "
                f"peak RSS {b['peak_rss_mib']:.0f} MiB ({b['peak_measure']}; "
                f"{b['rss_before_mib']:.0f} MiB before, image {b['image_mib']:.0f} MiB)"
            )
    return out


if __name__ == "__main__":
    raise SystemExit(main())
