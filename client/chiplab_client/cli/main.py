"""The entry point: parse, find the credentials, run the command, map errors to exit codes."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from typing import TextIO

from .. import config
from ..client import Client
from ..errors import ChiplabError
from .account import cmd_login
from .output import API_ERROR, USAGE, Output, UsageError, error_write
from .parser import build_parser


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
        error_write(out, "usage", str(err))
        return USAGE
    except ValueError as err:  # a malformed URL or config file
        error_write(out, "usage", str(err))
        return USAGE
    except ChiplabError as err:
        error_write(out, err.code, err.message, status=err.status, fields=err.fields)
        return API_ERROR
    except KeyboardInterrupt:
        error_write(out, "interrupted", "interrupted")
        return 130
