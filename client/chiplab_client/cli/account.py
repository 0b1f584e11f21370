"""Commands about who you are and what you may see: ``login``, ``labs``, ``datasets``."""

from __future__ import annotations

import argparse
import getpass
from typing import TextIO

from .. import config
from ..client import Client
from .output import OK, Output, UsageError


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
