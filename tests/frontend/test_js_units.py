"""The frontend's unit tests (``frontend/tests/*.test.js``, run by ``node --test``) in `make test`.

They cover the browser client's pure modules (api.list paging, polling, grid arithmetic, display
and colour maths, formatters) and need Node 20 or later, nothing from the npm registry.
"""

import shutil
import subprocess

import pytest

from tests.support.services import IN_CI, ROOT

FRONTEND = ROOT / "frontend"


def test_node_unit_tests_pass():
    node = shutil.which("node")
    if not node:  # as the e2e tests without Chromium: skipped on a checkout, a failure in CI
        message = "Node.js 20+ is needed for the frontend's unit tests (apt-get install nodejs)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    tests = sorted(str(p.relative_to(FRONTEND)) for p in (FRONTEND / "tests").glob("*.test.js"))
    assert tests, "no frontend unit tests found"
    run = subprocess.run(
        [node, "--test", *tests], cwd=FRONTEND, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, f"node --test failed:\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
