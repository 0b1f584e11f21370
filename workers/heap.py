"""The pool processes' heap keeps freed memory for the next map instead of handing it back.

A correction's re-run at 4096² px allocates and frees a few hundred MB of arrays (the pixel
map's planes, masks, counts). glibc's defaults give much of it back to the kernel when it is
freed, and take it again, page-faulted and zeroed, on the next allocation: about 21,000 minor
page faults per re-run, 0.03-0.1 s of kernel time on one core. On a machine whose other core
serves the web requests of the same click, the pixel vote's stage then took 0.16-0.37 s in the
worker against 0.14-0.16 s with the settings below (``chiplab_bench_page --reach 0``,
docs/benchmarks.md "The workers keep their freed memory").

Every block comes from the heap and goes back to it, however large: glibc's mapped blocks
(its default above 0.1-32 MiB) are unmapped when freed and faulted in again, zeroed, when the
next map asks (with only blocks up to 32 MiB kept, the stage still took 0.16-0.25 s). The
heap's free top is handed back to the kernel beyond :data:`TRIM_THRESHOLD`, which bounds what
an idle process keeps; a freed block inside the heap is kept and counts against the process's
memory cap (``tasks.base``) until it is reused. Where the C library is not glibc, nothing is
changed.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

# mallopt(3) parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4

#: free memory at the heap's top that a process keeps before giving it back
TRIM_THRESHOLD = 512 * 1024**2


def keep_freed_memory() -> bool:
    """Set this process's allocator to keep freed memory (see the module) -> whether it did
    (False where the C library is not glibc or refused a setting)."""
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return False
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    done = all(
        libc.mallopt(param, value) == 1
        for param, value in ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    )
    if not done:
        log.warning("the C library refused the heap settings: freed memory is handed back")
    return done
