"""Waiting on work the server does after answering 202 (a direct upload's commit, a dataset
package's import): poll its status resource until it has finished."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .errors import ChiplabError


def poll(
    fetch: Callable[[], dict[str, Any]],
    *,
    finished: Callable[[dict[str, Any]], bool],
    sleep: Callable[[float], None],
    what: str,
    state: dict[str, Any] | None = None,
    on_state: Callable[[dict[str, Any]], None] | None = None,
    interval: float = 0.5,
    max_interval: float = 5.0,
    timeout: float | None = None,
) -> dict[str, Any]:
    """``fetch()`` until ``finished(state)``; ``on_state(state)`` after every poll. The
    interval grows from ``interval`` to ``max_interval`` while the state does not change.
    Past ``timeout`` seconds: ChiplabError ``timeout`` (the last state in ``body``)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    state = state if state is not None else fetch()
    delay, seen = interval, None
    while True:
        if on_state is not None:
            on_state(state)
        if finished(state):
            return state
        if deadline is not None and time.monotonic() >= deadline:
            raise ChiplabError(
                f"{what} still {state.get('status')} after {timeout:g} s.",
                code="timeout",
                body=state,
            )
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        sleep(delay if left is None else min(delay, left))
        state = fetch()
        delay = interval if state != seen else min(max_interval, delay * 1.5)
        seen = state


def failure(state: dict[str, Any], what: str, default_code: str) -> ChiplabError:
    """The error of a finished state that is not a success (its error and code, if any)."""
    reason = state.get("error") or state.get("status")
    return ChiplabError(
        f"{what} {state.get('status')}: {reason}",
        code=state.get("error_code") or default_code,
        body=state,
    )
