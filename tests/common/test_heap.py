"""A worker's pool process keeps the memory its arrays free (``workers.heap``)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# a map's churn in small: arrays up to glibc's largest heap block, more of them than its
# default trim threshold keeps, allocated and freed again and again (a re-run's planes)
CHURN = """
import resource, sys
import numpy as np
from workers.heap import keep_freed_memory

if sys.argv[1] == "keep":
    assert keep_freed_memory()

def churn():
    for _ in range(10):
        arrays = [np.ones(size << 20, np.uint8) for size in (16, 24, 31, 31, 31)]
        del arrays

churn()  # the first round may fault the memory in
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
churn()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", CHURN, mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


def test_freed_arrays_are_not_page_faulted_in_again():
    default, kept = _faults("default"), _faults("keep")
    # 10 rounds of 133 MiB: glibc's defaults hand most of it back and fault it in again
    assert default > 10_000
    assert kept < default / 20, (default, kept)
