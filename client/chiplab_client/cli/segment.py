"""Commands that segment: ``segment``, ``results`` (download a job's exports) and
``watch`` (upload and segment a folder's new files), with the fraction tables they print."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

from ..client import Client
from ..errors import ChiplabError
from ..jobs import SegmentationJob
from ..watch import Frame, Watcher
from .output import API_ERROR, OK, Output, UsageError


def cmd_segment(args: argparse.Namespace, out: Output, client: Client) -> int:
    params = dict(_param(p) for p in args.param or [])
    job = client.jobs.create(
        images=args.images,
        dataset=args.dataset,
        support_set=args.support_set,
        model_version=args.model,
        params=params or None,
    )
    if not out.as_json:
        out.note(f"job {job.id} {job.status}")
    if args.wait:
        job = _wait(job, out, timeout=args.timeout)
    if out.as_json:
        out.json(job.data)
    else:
        out.line(job.id)
        if job.status == "succeeded":
            _print_fractions(job, out)
        elif job.finished:
            out.note(f"job {job.id} {job.status}: {job.data.get('error') or 'no reason given'}")
    return OK if job.status in ("succeeded", "queued", "running") else API_ERROR


def cmd_results(args: argparse.Namespace, out: Output, client: Client) -> int:
    job = client.jobs.get(args.job)
    if args.wait:
        job = _wait(job, out, timeout=args.timeout)
    if job.status != "succeeded":
        raise ChiplabError(
            f"job {job.id} is {job.status}: {job.data.get('error') or 'no results yet'}",
            code=f"job_{job.status}",
            body=job.data,
        )
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    count = 0

    def fetched(path: Path) -> None:
        nonlocal count
        count += 1
        if not out.as_json:
            out.line(str(path))

    results = client.results.download_job(job.id, out_dir, kinds=args.kind, on_file=fetched)
    rows = _summary_rows(job, results, out_dir)
    summary_path = out_dir / f"results.{args.format}"
    if args.format == "csv":
        with summary_path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["job"])
            writer.writeheader()
            writer.writerows(rows)
    else:
        document = {
            "job": job.id,
            "results": [
                {**_result_fields(r), "files": [str(p.relative_to(out_dir)) for p in r["files"]]}
                for r in results
            ],
        }
        summary_path.write_text(json.dumps(document, indent=2) + "\n")
    if out.as_json:
        out.json({"job": job.id, "summary": str(summary_path), "files": count, "results": rows})
    else:
        out.line(str(summary_path))
        out.note(f"{count} files of {len(results)} results in {out_dir}")
    return OK


def cmd_watch(args: argparse.Namespace, out: Output, client: Client) -> int:
    params = dict(_param(p) for p in args.param or [])
    failed = 0

    def show(frame: Frame) -> None:
        nonlocal failed
        failed += frame.status == "failed"
        if out.as_json:
            out.stdout.write(json.dumps(frame.as_dict(), default=str) + "\n")
            out.stdout.flush()
            return
        if frame.status != "succeeded":
            reason = (frame.error or {}).get("message") or "already in the dataset"
            out.line(f"{frame.path.name}  {frame.status}: {reason}")
        for r in frame.results:
            parts = ", ".join(
                f"{c['class']} {c['fraction']:.3f}"
                for c in r["classes"]
                if c["fraction"] is not None
            )
            where = f" frame {r['frame']}" if r.get("frame") else ""
            out.line(f"{frame.path.name}{where}  {parts}  ({frame.timings['total']:.2f} s)")
        out.stdout.flush()

    watcher = Watcher(
        client,
        args.folder,
        dataset=args.dataset,
        support_set=args.support_set,
        model_version=args.model,
        params=params or None,
        on_frame=show,
        interval=args.interval,
        settle=args.settle,
        parallel=args.parallel,
    )
    if not Path(args.folder).is_dir():
        raise UsageError(f"no folder {args.folder}")
    if not out.as_json:
        out.note(f"watching {args.folder} (Ctrl-C to stop)")
    watcher.run(max_frames=args.max_frames, timeout=args.timeout)
    return API_ERROR if failed else OK


def _param(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise UsageError(f"--param {text!r}: expected NAME=VALUE")
    try:
        return key, json.loads(raw)
    except ValueError:
        return key, raw


def _wait(job: SegmentationJob, out: Output, *, timeout: float | None) -> SegmentationJob:
    def show(j: SegmentationJob) -> None:
        p = j.data.get("progress") or {}
        out.progress(f"job {j.status:<9}", j.fraction, f"{p.get('done', 0)}/{p.get('total', 0)}")

    try:
        return job.wait(progress=show, timeout=timeout, check=False)
    finally:
        out.end_progress()


def _fractions(result: dict[str, Any]) -> list[dict[str, Any]]:
    classes = result.get("classes") or []
    counts = result.get("counts") or []
    fractions = result.get("fractions") or []
    stds = result.get("fraction_std") or []
    areas = result.get("areas") or []
    rows = []
    for c in classes:
        i = c.get("index", len(rows))
        rows.append(
            {
                "class": c.get("name"),
                "count": counts[i] if i < len(counts) else None,
                "fraction": fractions[i] if i < len(fractions) else None,
                "fraction_std": stds[i] if i < len(stds) else None,
                "area": areas[i] if i < len(areas) else None,
            }
        )
    return rows


def _result_fields(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "result": result["id"],
        "image": result.get("image"),
        "frame": result.get("frame"),
        "area_unit": result.get("area_unit"),
        "mean_confidence": result.get("mean_confidence"),
        "classes": _fractions(result),
    }


def _summary_rows(job, results, out_dir: Path) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        for c in _fractions(r):
            rows.append(
                {
                    "job": job.id,
                    "result": r["id"],
                    "image": r.get("image"),
                    "frame": r.get("frame"),
                    **c,
                    "area_unit": r.get("area_unit") or "",
                    "folder": str((out_dir / r["id"]).relative_to(out_dir)),
                }
            )
    return rows


def _print_fractions(job: SegmentationJob, out: Output) -> None:
    for r in job.results:
        parts = [
            f"{c['class']} {c['fraction']:.3f}"
            + (f" ± {c['fraction_std']:.3f}" if c["fraction_std"] is not None else "")
            for c in _fractions(r)
            if c["fraction"] is not None
        ]
        frame = f" frame {r['frame']}" if r.get("frame") else ""
        out.note(f"image {r['image']}{frame}: " + ", ".join(parts))
