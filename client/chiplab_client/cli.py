"""``chiplab``: the command line of the Chiplab API, for people and for scripts.

Exit codes: 0 done, 1 the API refused or a job failed (the error's code and message on
stderr), 2 wrong usage (bad arguments, no token, a path that matches nothing), 130 interrupted.
``--json`` prints one JSON document on stdout (errors as JSON on stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import getpass
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from . import __version__, config
from .areas.analysis import EXPORT_KINDS
from .client import Client
from .errors import ChiplabError
from .jobs import SegmentationJob
from .uploads import expand, upload_many
from .watch import Frame, Watcher

OK, API_ERROR, USAGE = 0, 1, 2


class UsageError(Exception):
    """Wrong usage: exit code 2."""


class Output:
    """Where a command writes: a result on stdout (a table or JSON), notes and progress on
    stderr (progress only on a terminal)."""

    def __init__(self, *, as_json: bool, stdout: TextIO, stderr: TextIO):
        self.as_json = as_json
        self.stdout, self.stderr = stdout, stderr
        self.live = stderr.isatty()

    def json(self, data: Any) -> None:
        json.dump(data, self.stdout, indent=2, default=str)
        self.stdout.write("\n")

    def line(self, text: str = "") -> None:
        print(text, file=self.stdout)

    def note(self, text: str) -> None:
        print(text, file=self.stderr)

    def table(self, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
        cells = [[_cell(row.get(c)) for c in columns] for row in rows]
        widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
        for values in ([c.upper() for c in columns], *cells):
            self.line("  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip())

    def progress(self, label: str, fraction: float, detail: str = "") -> None:
        if not self.live:
            return
        bar = "#" * round(fraction * 30)
        self.stderr.write(f"\r{label} [{bar:<30}] {fraction:6.1%} {detail}\033[K")
        self.stderr.flush()

    def end_progress(self) -> None:
        if self.live:
            self.stderr.write("\n")


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


# --- commands ----------------------------------------------------------------------------
def cmd_login(args: argparse.Namespace, out: Output, stdin: TextIO) -> int:
    url = config.normalise_url(args.server or config.credentials()[0])
    if stdin.isatty():
        token = getpass.getpass(f"API token for {url} (create one under Profile): ")
    else:
        token = stdin.readline()
    token = token.strip()
    if not token:
        raise UsageError("no token given (type it at the prompt or pipe it on stdin)")
    username = None
    if not args.no_verify:
        username = Client(url, token).auth.me()["username"]
    path = config.store_token(url, token)
    if out.as_json:
        out.json({"server": url, "username": username, "config": str(path)})
    else:
        who = f" as {username}" if username else ""
        out.line(f"Logged in to {url}{who}; the token is in {path} (readable by you only).")
    return OK


def cmd_labs(args: argparse.Namespace, out: Output, client: Client) -> int:
    labs = client.labs.list()
    if out.as_json:
        out.json(labs)
    else:
        out.table(labs, ["id", "slug", "name", "role"])
    return OK


def cmd_datasets(args: argparse.Namespace, out: Output, client: Client) -> int:
    datasets = list(client.datasets.list(lab=args.lab))
    if out.as_json:
        out.json(datasets)
    else:
        out.table(datasets, ["id", "title", "lab_name", "image_count", "visibility"])
    return OK


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

    outcomes = upload_many(
        client,
        args.dataset,
        files,
        parallel=args.parallel,
        on_outcome=report,
        direct=args.direct,
        progress=bytes_sent if args.direct else None,
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

    report = client.datasets.import_archive(
        path,
        lab=args.lab,
        visibility=args.visibility,
        with_results=not args.no_results,
        progress=progress,
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


# --- helpers -----------------------------------------------------------------------------
# --- helpers -----------------------------------------------------------------------------
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


# --- parser ------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--server", default=argparse.SUPPRESS, help="server URL (default: the one logged in to)"
    )
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="JSON on stdout"
    )
    parser = argparse.ArgumentParser(
        prog="chiplab",
        description="Chiplab from the command line: upload micrographs, segment, fetch results.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"chiplab-client {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Callable, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = command("login", cmd_login, "store an API token (typed at a prompt or piped on stdin)")
    p.add_argument("--no-verify", action="store_true", help="do not check the token first")
    command("labs", cmd_labs, "the labs you belong to")
    p = command("datasets", cmd_datasets, "the datasets you may see")
    p.add_argument("--lab", help="only this lab's (id)")
    p = command("upload", cmd_upload, "upload micrographs; files already there are skipped")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, folders or glob patterns")
    p.add_argument("--dataset", required=True, help="dataset id")
    p.add_argument("--parallel", type=int, default=4, help="uploads at once (default 4)")
    p.add_argument(
        "--direct",
        action="store_true",
        help="large files: straight to the object store in parts (S3 servers; resumable)",
    )
    p = command("segment", cmd_segment, "segment images with a frozen support set")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--images", nargs="+", metavar="ID", help="image ids")
    which.add_argument("--dataset", help="every image of this dataset")
    p.add_argument("--support-set", required=True, help="frozen support-set version id")
    p.add_argument("--model", help="model version id (default: the lab's champion)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="e.g. seed=7")
    p.add_argument("--wait", action="store_true", help="wait until the job has finished")
    p.add_argument("--timeout", type=float, help="seconds to wait at most")
    p = command("results", cmd_results, "download every export of every result of a job")
    p.add_argument("job", metavar="JOB", help="segmentation job id")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write to")
    p.add_argument("--format", choices=["csv", "json"], default="csv", help="summary table format")
    p.add_argument(
        "--kind", action="append", choices=EXPORT_KINDS, help="only these exports (repeatable)"
    )
    p.add_argument("--wait", action="store_true", help="wait for the job first")
    p.add_argument("--timeout", type=float, help="seconds to wait at most")
    p = command("import", cmd_import, "import a label mask or a CSV of chips into a grid")
    p.add_argument("file", metavar="MASK|CSV", help="PNG/TIFF label mask or CSV (row,col,class)")
    p.add_argument("--grid", required=True, help="grid id")
    p.add_argument(
        "--classes",
        action="append",
        metavar="TABLE",
        help='mask value or colour -> class: 1=STO,2=Ge,0= or \'{"#ff0000": "STO"}\'',
    )
    p.add_argument("--schema", help="label schema id (default: the dataset's default)")
    p.add_argument("--gold", action="store_true", help="as gold answers (curators)")
    p.add_argument(
        "--threshold", type=float, help="share of a chip its class must cover (0.5-1, def. 0.75)"
    )
    p = command("export", cmd_export, "export a dataset version as one archive (RO-Crate zip)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("version", nargs="?", metavar="VERSION", help="dataset version id")
    which.add_argument("--dataset", help="the latest version of this dataset (id)")
    p.add_argument("--out", required=True, metavar="FILE", help="zip file (or folder) to write")
    p = command("import-dataset", cmd_import_dataset, "import an exported archive as a new dataset")
    p.add_argument("file", metavar="FILE", help="a version's archive (from `chiplab export`)")
    p.add_argument("--lab", required=True, help="lab id of the new dataset")
    p.add_argument("--visibility", choices=["private", "lab", "public"], help="default: lab")
    p.add_argument(
        "--no-results",
        action="store_true",
        help="leave results out (their model versions are not on this server)",
    )
    p = command("watch", cmd_watch, "upload and segment each new file of a folder as it arrives")
    p.add_argument("folder", metavar="DIR", help="folder the instrument writes to")
    p.add_argument("--dataset", required=True, help="dataset id to upload to")
    p.add_argument("--support-set", required=True, help="frozen support-set version id")
    p.add_argument("--model", help="model version id (default: the lab's champion)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="e.g. seed=7")
    p.add_argument("--interval", type=float, default=0.1, help="seconds between looks (0.1)")
    p.add_argument(
        "--settle", type=float, default=0.3, help="seconds a file must stay unchanged (0.3)"
    )
    p.add_argument("--parallel", type=int, default=2, help="frames processed at once (2)")
    p.add_argument("--max-frames", type=int, help="stop after this many frames")
    p.add_argument("--timeout", type=float, help="stop after this many seconds")
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    parser = build_parser()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error (2, message printed)
        return int(exit_.code or 0)
    args.json = getattr(args, "json", False)
    args.server = getattr(args, "server", None)
    out = Output(as_json=args.json, stdout=stdout, stderr=stderr)
    try:
        if args.func is cmd_login:
            return cmd_login(args, out, stdin)
        url, token = config.credentials(args.server)
        if not token:
            raise UsageError(f"no token for {url}: run `chiplab login --server {url}` first")
        return args.func(args, out, Client(url, token))
    except UsageError as err:
        _error(out, "usage", str(err))
        return USAGE
    except ValueError as err:  # a malformed URL or config file
        _error(out, "usage", str(err))
        return USAGE
    except ChiplabError as err:
        _error(out, err.code, err.message, status=err.status, fields=err.fields)
        return API_ERROR
    except KeyboardInterrupt:
        _error(out, "interrupted", "interrupted")
        return 130


def _error(out: Output, code: str, message: str, **extra: Any) -> None:
    if out.as_json:
        body = {"code": code, "message": message, **{k: v for k, v in extra.items() if v}}
        json.dump({"error": body}, out.stderr)
        out.stderr.write("\n")
    else:
        status = extra.get("status")
        fields = "".join(f"\n  {k}: {'; '.join(v)}" for k, v in (extra.get("fields") or {}).items())
        prefix = f"{status} " if status else ""
        out.stderr.write(f"chiplab: error: {prefix}{code}: {message}{fields}\n")
