"""Benchmark of the few-shot engine against a pixel-classifier peer on simulated and texture cases.

python -m workers.fewshot.bench            # full: all cases, k = 1, 3, 5, 10 draws, speed
python -m workers.fewshot.bench --quick    # ~1-2 minutes on 2 CPU cores
python -m workers.fewshot.bench --json results.json
"""

import os

#: the user's own OpenMP wait policy, captured before ``__main__`` sets PASSIVE for the
#: benchmark's process; the speed measurements' fresh processes get this one back
USER_OMP_WAIT_POLICY = os.environ.get("OMP_WAIT_POLICY")
