"""Benchmark of the few-shot engine against a pixel-classifier peer on simulated and texture cases.

python -m workers.fewshot.bench            # full: all cases, k = 1, 3, 5, 10 draws, speed
python -m workers.fewshot.bench --quick    # ~1-2 minutes on 2 CPU cores
python -m workers.fewshot.bench --json results.json
"""

import os

# torch and scikit-learn ship different OpenMP runtimes; with the default active waiting, the
# threads of one keep spinning for a while after its parallel region and steal the cores from
# the other, which adds ~0.4 s to whichever method runs next. Passive waiting makes the timings
# of interleaved methods independent. Set before torch / sklearn initialise OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
