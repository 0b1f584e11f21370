"""Background work gives way to the work a user waits for (common.priority)."""

import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from common.priority import BACKGROUND_NICE, in_background, interactive, yield_to_interactive


def _nice_here() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_background_work_runs_at_a_lower_priority_and_its_threads_too():
    before = _nice_here()

    def work():
        with ThreadPoolExecutor(2) as pool:  # as the downloads' exports do
            started = [pool.submit(_nice_here) for _ in range(2)]
            return _nice_here(), [f.result() for f in started]

    own, started = in_background(work)
    assert _nice_here() == before  # the caller keeps its priority
    expected = min(19, before + BACKGROUND_NICE) if sys.platform == "linux" else before
    assert own == expected
    assert started == [expected, expected]


def test_background_work_returns_its_result_and_raises_its_error():
    assert in_background(lambda a, b=0: a + b, 2, b=3) == 5

    def fails():
        raise ValueError("no such export")

    with pytest.raises(ValueError, match="no such export"):
        in_background(fails)


def test_a_yield_waits_until_the_interactive_work_ends():
    entered, ended = threading.Event(), []

    def user_waits():
        with interactive():
            entered.set()
            time.sleep(0.3)
            ended.append(time.monotonic())

    user = threading.Thread(target=user_waits)
    user.start()
    assert entered.wait(10)
    waited = yield_to_interactive(timeout=30)
    returned = time.monotonic()
    user.join()
    assert ended and returned >= ended[0]  # it went on only once the section was over
    assert waited > 0


def test_a_yield_gives_up_after_its_timeout_and_nothing_is_held_after():
    release, entered = threading.Event(), threading.Event()

    def user_waits():
        with interactive():
            entered.set()
            release.wait(30)

    user = threading.Thread(target=user_waits)
    user.start()
    assert entered.wait(10)
    yield_to_interactive(timeout=0.1)
    still_inside = not release.is_set()
    release.set()
    user.join()
    assert still_inside  # it returned while the interactive section still ran
    # with nobody inside, a yield goes straight on: nothing was left locked
    done = []
    waiter = threading.Thread(target=lambda: done.append(yield_to_interactive(timeout=30)))
    waiter.start()
    waiter.join(10)
    assert done and done[0] < 30


def test_interactive_sections_do_not_wait_for_each_other():
    inside = threading.Barrier(2, timeout=10)

    def user():
        with interactive():
            inside.wait()  # both inside at once, or the barrier breaks

    users = [threading.Thread(target=user) for _ in range(2)]
    for u in users:
        u.start()
    for u in users:
        u.join()
    assert not inside.broken


def test_without_a_writable_data_directory_nothing_waits_or_fails(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "missing"  # no such folder: the lock file cannot be made
    with interactive():
        assert yield_to_interactive(timeout=30) == 0.0


def test_a_yield_waits_out_the_grace_after_the_interactive_work_ends(settings):
    """A correction's re-run comes a second or two after the map: background work that would
    start a step in that gap waits until the host has been free of interactive work for the
    grace (CHIPLAB_BACKGROUND_GRACE_SECONDS), then goes straight on while it stays free."""
    settings.CHIPLAB_BACKGROUND_GRACE_SECONDS = 0.6
    with interactive():
        pass
    ended = time.monotonic()
    waited = yield_to_interactive(timeout=30)
    assert time.monotonic() - ended >= 0.55 and waited >= 0.5
    assert yield_to_interactive(timeout=30) < 0.3  # the grace is over: no wait
    # a section ending while a step waits starts the grace again
    settings.CHIPLAB_BACKGROUND_GRACE_SECONDS = 0.4
    with interactive():
        pass
    started = time.monotonic()

    def section():
        with interactive():
            pass

    again = threading.Timer(0.2, section)
    again.start()
    waited = yield_to_interactive(timeout=30)
    again.join()
    assert time.monotonic() - started >= 0.55 and waited >= 0.55  # 0.2 s + a new 0.4 s grace
    # the timeout still bounds the wait
    settings.CHIPLAB_BACKGROUND_GRACE_SECONDS = 30.0
    with interactive():
        pass
    assert yield_to_interactive(timeout=0.2) < 1.0


def test_a_new_data_directory_has_no_grace_to_wait_out(settings, tmp_path):
    """The lock file is made by the first section or step that opens it: made by a background
    step, it says that no interactive work has ended yet (no grace); its first section's end
    then starts one."""
    settings.DATA_DIR = tmp_path
    settings.CHIPLAB_BACKGROUND_GRACE_SECONDS = 30.0
    assert yield_to_interactive(timeout=5) < 1.0  # the file is new: no wait
    assert yield_to_interactive(timeout=5) < 1.0  # nor once it exists
    with interactive():
        pass
    assert yield_to_interactive(timeout=0.5) >= 0.45  # a section ended: the grace holds
