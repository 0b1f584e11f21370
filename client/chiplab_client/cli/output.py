"""Where a command writes and how it ends: exit codes, usage errors, the output (a table or
JSON on stdout, notes and progress on stderr) and the error line."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TextIO

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


def error_write(out: Output, code: str, message: str, **extra: Any) -> None:
    if out.as_json:
        body = {"code": code, "message": message, **{k: v for k, v in extra.items() if v}}
        json.dump({"error": body}, out.stderr)
        out.stderr.write("\n")
    else:
        status = extra.get("status")
        fields = "".join(f"\n  {k}: {'; '.join(v)}" for k, v in (extra.get("fields") or {}).items())
        prefix = f"{status} " if status else ""
        out.stderr.write(f"chiplab: error: {prefix}{code}: {message}{fields}\n")
