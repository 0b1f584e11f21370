"""The argument parser of ``chiplab``: the commands in the order ``--help`` lists them."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from .. import __version__
from ..areas.analysis import EXPORT_KINDS
from .account import cmd_datasets, cmd_labs, cmd_login
from .segment import cmd_results, cmd_segment, cmd_watch
from .transfer import cmd_export, cmd_import, cmd_import_dataset, cmd_upload


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
    for name, func, help, arguments in COMMANDS:
        p = sub.add_parser(name, parents=[common], help=help, description=help)
        p.set_defaults(func=func)
        arguments(p)
    return parser


def _login(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-verify", action="store_true", help="do not check the token first")


def _labs(p: argparse.ArgumentParser) -> None:
    pass


def _datasets(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lab", help="only this lab's (id)")


def _upload(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, folders or glob patterns")
    p.add_argument("--dataset", required=True, help="dataset id")
    p.add_argument("--parallel", type=int, default=4, help="uploads at once (default 4)")
    p.add_argument(
        "--direct",
        action="store_true",
        help="large files: straight to the object store in parts (S3 servers; resumable)",
    )


def _segment(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--images", nargs="+", metavar="ID", help="image ids")
    which.add_argument("--dataset", help="every image of this dataset")
    p.add_argument("--support-set", required=True, help="frozen support-set version id")
    p.add_argument("--model", help="model version id (default: the lab's champion)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="e.g. seed=7")
    p.add_argument("--wait", action="store_true", help="wait until the job has finished")
    p.add_argument("--timeout", type=float, help="seconds to wait at most")


def _results(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", metavar="JOB", help="segmentation job id")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write to")
    p.add_argument("--format", choices=["csv", "json"], default="csv", help="summary table format")
    p.add_argument(
        "--kind", action="append", choices=EXPORT_KINDS, help="only these exports (repeatable)"
    )
    p.add_argument("--wait", action="store_true", help="wait for the job first")
    p.add_argument("--timeout", type=float, help="seconds to wait at most")


def _import(p: argparse.ArgumentParser) -> None:
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


def _export(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("version", nargs="?", metavar="VERSION", help="dataset version id")
    which.add_argument("--dataset", help="the latest version of this dataset (id)")
    p.add_argument("--out", required=True, metavar="FILE", help="zip file (or folder) to write")


def _import_dataset(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="a version's archive (from `chiplab export`)")
    p.add_argument("--lab", required=True, help="lab id of the new dataset")
    p.add_argument("--visibility", choices=["private", "lab", "public"], help="default: lab")
    p.add_argument(
        "--no-results",
        action="store_true",
        help="leave results out (their model versions are not on this server)",
    )


def _watch(p: argparse.ArgumentParser) -> None:
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


#: (name, command, help, its arguments), in the order ``chiplab --help`` lists them
COMMANDS: list[tuple[str, Callable, str, Callable[[argparse.ArgumentParser], None]]] = [
    ("login", cmd_login, "store an API token (typed at a prompt or piped on stdin)", _login),
    ("labs", cmd_labs, "the labs you belong to", _labs),
    ("datasets", cmd_datasets, "the datasets you may see", _datasets),
    ("upload", cmd_upload, "upload micrographs; files already there are skipped", _upload),
    ("segment", cmd_segment, "segment images with a frozen support set", _segment),
    ("results", cmd_results, "download every export of every result of a job", _results),
    ("import", cmd_import, "import a label mask or a CSV of chips into a grid", _import),
    ("export", cmd_export, "export a dataset version as one archive (RO-Crate zip)", _export),
    (
        "import-dataset",
        cmd_import_dataset,
        "import an exported archive as a new dataset",
        _import_dataset,
    ),
    (
        "watch",
        cmd_watch,
        "upload and segment each new file of a folder as it arrives",
        _watch,
    ),
]
