"""``chiplab``: the command line of the Chiplab API, for people and for scripts.

Exit codes: 0 done, 1 the API refused or a job failed (the error's code and message on
stderr), 2 wrong usage (bad arguments, no token, a path that matches nothing), 130 interrupted.
``--json`` prints one JSON document on stdout (errors as JSON on stderr).
"""

from .main import main
from .output import API_ERROR, OK, USAGE, Output, UsageError
from .parser import build_parser

__all__ = ["API_ERROR", "OK", "USAGE", "Output", "UsageError", "build_parser", "main"]
