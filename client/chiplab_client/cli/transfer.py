"""Commands that move files: ``upload``, ``import`` (annotations into a grid), ``export``
and ``import-dataset`` (a version's archive)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..client import Client
from ..uploads import expand, upload_many
from .output import API_ERROR, OK, Output, UsageError


def cmd_upload(args: argparse.Namespace, out: Output, client: Client) -> int:
    files, unmatched = expand(args.paths)
    if unmatched:
        raise UsageError(f"nothing to upload at: {', '.join(unmatched)}")
    total_bytes = sum(f.stat().st_size for f in files)
    counts = {"uploaded": 0, "skipped": 0, "failed": 0}
    started = time.monotonic()

    def report(outcome) -> None:
        counts[outcome.status] += 1
        done = sum(counts.values())
        if not out.as_json:
            if out.live:
                out.stderr.write("\r\033[K")
            message = (outcome.error or {}).get("message", "")
            what = outcome.image or ""
            out.line(f"{outcome.status:<8}  {outcome.path}  {what}  {message}".rstrip())
        out.progress("upload", done / len(files), f"{done}/{len(files)} files")

    sent_of: dict[Path, int] = {}

    def bytes_sent(path: Path, done: int, total: int | None) -> None:  # --direct: by bytes
        sent_of[path] = done
        out.progress("upload", sum(sent_of.values()) / max(1, total_bytes), f"{path.name}")

    checked_of: dict[Path, int] = {}

    def bytes_checked(path: Path, done: int, total: int | None) -> None:  # the server's check
        checked_of[path] = done
        fraction = sum(checked_of.values()) / max(1, total_bytes)
        out.progress("check", fraction, f"{path.name} (server checks sha256)")

    outcomes = upload_many(
        client,
        args.dataset,
        files,
        parallel=args.parallel,
        on_outcome=report,
        direct=args.direct,
        progress=bytes_sent if args.direct else None,
        checking=bytes_checked if args.direct else None,
    )
    out.end_progress()
    seconds = time.monotonic() - started
    sent = sum(o.size for o in outcomes if o.status == "uploaded")
    summary = {
        "dataset": args.dataset,
        **counts,
        "bytes_uploaded": sent,
        "seconds": round(seconds, 3),
        "files": [o.as_dict() for o in outcomes],
    }
    if out.as_json:
        out.json(summary)
    else:
        out.note(
            f"{counts['uploaded']} uploaded, {counts['skipped']} skipped, "
            f"{counts['failed']} failed of {len(files)} files ({total_bytes / 1e6:.1f} MB) "
            f"in {seconds:.1f} s"
        )
    return API_ERROR if counts["failed"] else OK


def cmd_import(args: argparse.Namespace, out: Output, client: Client) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"no file {path}")
    report = client.grids.import_annotations(
        args.grid,
        path,
        classes=_classes(args.classes),
        schema=args.schema,
        target="gold" if args.gold else "votes",
        threshold=args.threshold,
    )
    if out.as_json:
        out.json(report)
    else:
        out.table(report["classes"], ["name", "chips", "id"])
        reasons = ", ".join(f"{k} {v}" for k, v in report["skipped_reasons"].items() if v)
        out.note(
            f"{report['labelled']} of {report['chips']} chips labelled as "
            f"{report['target']}, {report['skipped']} skipped"
            + (f" ({reasons})" if reasons else "")
        )
    return OK


def cmd_export(args: argparse.Namespace, out: Output, client: Client) -> int:
    version = args.version or client.datasets.latest_version(args.dataset)["id"]
    dest = Path(args.out)
    if not dest.parent.is_dir():
        raise UsageError(f"no folder {dest.parent}")

    def progress(done: int, total: int | None) -> None:
        out.progress("export", done / total if total else 0.0, f"{done / 1e6:.1f} MB")

    path = client.datasets.export_archive(version, dest, progress=progress)
    out.end_progress()
    size = path.stat().st_size
    if out.as_json:
        out.json({"version": version, "file": str(path), "bytes": size})
    else:
        out.line(str(path))
        out.note(f"version {version}: {size / 1e6:.1f} MB")
    return OK


def cmd_import_dataset(args: argparse.Namespace, out: Output, client: Client) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"no file {path}")

    def progress(done: int, total: int | None) -> None:
        out.progress("import", done / total if total else 0.0, f"{done / 1e6:.1f} MB")

    def checking(state: dict) -> None:  # the server's worker: checking, then restoring
        total = state.get("total_bytes") or 0
        fraction = state.get("done_bytes", 0) / total if total else 0.0
        out.progress(state.get("stage") or "import", fraction, f"import {state['id']}")

    report = client.datasets.import_archive(
        path,
        lab=args.lab,
        visibility=args.visibility,
        with_results=not args.no_results,
        progress=progress,
        checking=checking,
    )
    out.end_progress()
    if out.as_json:
        out.json(report)
    else:
        out.line(report["dataset"]["id"])
        source = report["source"]
        out.note(
            f"dataset {report['dataset']['id']} ({report['dataset']['title']}): "
            f"{report['images']} images, {report['support_sets']} support sets, "
            f"{report['results']} results; version 1 {report['version']['id']} is a copy of "
            f"{source['doi'] or source['persistent_url']}"
        )
    return OK


def _classes(specs: list[str] | None) -> dict[str, str | None] | None:
    """``--classes`` as a table: a JSON object, or VALUE=CLASS pairs (comma-separated or
    repeated); an empty CLASS (``0=``) marks background."""
    if not specs:
        return None
    table: dict[str, str | None] = {}
    for spec in specs:
        if spec.lstrip().startswith("{"):
            try:
                loaded = json.loads(spec)
            except ValueError as err:
                raise UsageError(f"--classes {spec!r}: not JSON ({err})") from err
            if not isinstance(loaded, dict):
                raise UsageError(f"--classes {spec!r}: expected a JSON object")
            table.update({str(k): v for k, v in loaded.items()})
            continue
        for pair in spec.split(","):
            key, sep, name = pair.partition("=")
            if not sep or not key.strip():
                raise UsageError(f"--classes {pair!r}: expected VALUE=CLASS (e.g. 1=STO)")
            table[key.strip()] = name.strip() or None
    return table
