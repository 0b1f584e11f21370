"""Work nobody waits for gives way to the work a user waits for.

After a segmentation result is shown, its worker still writes the downloads (~1 s of two cores
at 4096²) and then runs the chip-size check. A user who edits the support set and segments
again within those seconds has the re-run compete with them for the same cores. So:

- the work a user waits for (a job's fit, classification and map, until its result is listed)
  runs inside :func:`interactive`, which holds a shared lock on a file in the data directory;
- background work calls :func:`yield_to_interactive` between its steps (each export, each chip
  size of the check): it waits there while any process on this host is inside
  :func:`interactive`, and until ``CHIPLAB_BACKGROUND_GRACE_SECONDS`` (2 s) have passed since
  the last one left it, as the lock file's modification time says; at most ``timeout`` s, so
  a long batch job does not stop it for good. A user who corrects a chip and re-runs does so
  within a second or two of the map, and a step begun in that gap would run beside the
  re-run, niced or not (two vCPUs are often one core's two hyperthreads, which a nice value
  does not share out): re-running 1 s after each map at 4096², support-set edit -> map took
  a median 1.03 s without the grace and 0.75 s with it (0.71 s with each job's downloads
  written before the next edit);
- and it runs on a thread of its own whose nice value is raised (:func:`in_background`; Linux:
  each thread has its own nice value, and threads it starts inherit it), so that a step already
  under way when a re-run starts takes little of the cores from it.

When nothing else runs, background work starts that grace after the last map and is then as
fast as before. File locks (``flock``) are released by the kernel when a process dies, so a
killed worker leaves nothing held. Elsewhere than Linux the background thread keeps the
caller's priority; without ``fcntl`` (Windows) the lock is not taken.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from django.conf import settings
from django.db import connections

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None

log = logging.getLogger(__name__)

#: added to a background thread's nice value (19 at most): weight ~1/10 of a nice-0 thread
BACKGROUND_NICE = 10

#: the longest a background step waits for the work a user waits for, per call (seconds)
YIELD_TIMEOUT = 10.0
#: how often a waiting background step looks again (seconds)
YIELD_POLL = 0.01

T = TypeVar("T")


def _lock_fd() -> int | None:
    """The lock file, opened; None where it cannot be (a read-only data directory): work then
    goes on without giving way rather than fail."""
    if fcntl is None:
        return None
    path = settings.DATA_DIR / "interactive.lock"
    try:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return os.open(path, os.O_RDWR)
        # a new file: no work a user waits for has ended yet, so none to give a grace after
        os.utime(fd, (0, 0))
        return fd
    except OSError as err:
        log.warning("no interactive lock (%s): background work will not give way", err)
        return None


@contextmanager
def interactive() -> Iterator[None]:
    """Mark the work inside as one a user waits for: background work on this host waits at
    its next :func:`yield_to_interactive` until it ends. Never nest it around work that
    yields (that work would wait for its own caller, up to its timeout)."""
    fd = _lock_fd()
    if fd is None:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        # ended now: background work waits out the grace from here (a file that cannot be
        # touched: it does not)
        with contextlib.suppress(OSError):
            os.utime(fd)
        os.close(fd)  # releases the lock


def yield_to_interactive(timeout: float = YIELD_TIMEOUT) -> float:
    """Wait while work a user waits for runs on this host (:func:`interactive`) and for
    ``CHIPLAB_BACKGROUND_GRACE_SECONDS`` after it ended, ``timeout`` s at most -> the seconds
    waited."""
    start = time.monotonic()
    grace = settings.CHIPLAB_BACKGROUND_GRACE_SECONDS
    fd = _lock_fd()
    if fd is None:
        return 0.0
    try:
        while time.monotonic() - start < timeout:
            if time.time() - os.fstat(fd).st_mtime >= grace:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break  # nobody holds it shared: let go at once (closing the file)
                except BlockingIOError:
                    pass
            time.sleep(YIELD_POLL)
    finally:
        os.close(fd)
    return time.monotonic() - start


def lower_thread_priority(increment: int = BACKGROUND_NICE) -> bool:
    """Raise the calling thread's nice value by ``increment`` (Linux only; it cannot be undone
    without privileges, so only threads made for background work call it) -> whether it did."""
    if sys.platform != "linux":  # setpriority(PRIO_PROCESS, tid) renices a thread on Linux only
        return False
    tid = threading.get_native_id()
    try:
        now = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, now + increment))
    except OSError:
        return False
    return True


def in_background(fn: Callable[..., T], /, *args, **kwargs) -> T:
    """``fn(*args, **kwargs)`` on a new thread at background priority (the threads it starts
    inherit it): its result, or its exception raised here. The thread's database connections
    are closed when it ends."""

    def run() -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()  # this thread's own, if fn opened any

    with ThreadPoolExecutor(1, initializer=lower_thread_priority) as pool:
        return pool.submit(run).result()
