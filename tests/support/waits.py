"""Waiting in tests: on state, with a deadline, never on a guessed duration."""

import time


def wait_for(predicate, *, timeout: float = 120, interval: float = 0.2, what: str = "condition"):
    """Call ``predicate`` every ``interval`` s until it returns something truthy, and return that;
    an AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)  # the polling interval of this helper, the one place tests poll
