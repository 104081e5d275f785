"""math_equal / verify_batch through the real math-verify worker pool."""

from __future__ import annotations

import os
import threading

import pytest

from _require import require_module

require_module("math_verify")

from openenvs.verify import VerifyPool, default_pool, math_equal, verify_batch  # noqa: E402


@pytest.fixture(scope="module")
def pool():
    return default_pool()  # the process-wide pool the envs use too: started once per test run


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        (r"\frac{\sqrt{2}}{2}", r"\frac{1}{\sqrt{2}}", True),
        (r"2\sqrt{3}", r"\sqrt{12}", True),
        (r"3\sqrt{2}", r"\sqrt{12}", False),
        (r"14\pi", r"\pi \cdot 14", True),
        ("(-2, 2)", "(-2, 2)", True),
        ("(-2, 2]", "(-2, 2)", False),
        (r"\{3, -3\}", r"\{-3, 3\}", True),
        ("(2, 5)", "(2,5)", True),
        ("(5, 2)", "(2, 5)", False),
        ("x = 5", "5", True),
        ("x^2 + 2x + 1", "(x+1)^2", True),
        (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", True),
        (r"10 \text{ cm}", "10", True),
        ("[0, \\infty)", "[0, \\infty)", True),
        ("y", "x", False),
    ],
)
def test_symbolic_answers(pool, pred, gold, expected):
    assert math_equal(pred, gold, pool=pool) is expected


def test_verify_batch_mixes_fast_and_slow(pool):
    preds = [r"so \boxed{4}", r"\boxed{\sqrt{4}}", "#### 5", "no answer", None, r"\boxed{(1,2)}"]
    golds = ["4", "2", "6", "1", "1", "(1, 2)"]
    assert verify_batch(preds, golds, pool=pool) == [True, True, False, False, False, True]
    assert verify_batch(["4", "x"], ["4", "x"], style=None, pool=pool) == [True, True]


def test_verify_batch_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="one gold per prediction"):
        verify_batch(["1", "2"], ["1"])


def test_bad_timeout_and_pool_size():
    with pytest.raises(ValueError, match="positive"):
        VerifyPool(workers=1).map([("x", "y")], timeout=0)
    with pytest.raises(ValueError, match="at least 1"):
        VerifyPool(workers=0)


@pytest.mark.timeout(60)
def test_pathological_inputs_return_false_in_bounded_time(pool):
    before = pool.timeouts
    tower = "9^{9^{9^{9}}}"
    braces = "{" * 7000 + "x" + "}" * 7000
    huge = "\\frac{" * 3000 + "1" + "}{2}" * 3000
    verdicts = verify_batch([tower, braces, huge, "x+1"], ["5", "x", "1", "1+x"], style=None, timeout=1.0, pool=pool)
    assert verdicts == [False, False, False, True]
    assert pool.timeouts > before  # the tower was cut off, not computed
    assert math_equal(r"\sqrt{9}", "3", pool=pool)  # the replaced worker serves the next call
    assert verify_batch([r"\boxed{" + "{" * 100_000], ["1"]) == [False]  # unclosed: never reaches sympy


@pytest.mark.timeout(60)
def test_a_killed_worker_is_replaced(pool):
    assert math_equal(r"\sqrt{4}", "2", pool=pool)
    workers = [pool._idle.get() for _ in range(pool._started)]
    for worker in workers:
        os.kill(worker.proc.pid, 9)
        pool._idle.put(worker)
    # a pair sent to a dead worker counts as wrong or is re-sent to its replacement; either way no error
    assert len(verify_batch([r"\sqrt{16}", r"\sqrt{25}"], ["4", "5"], style=None, pool=pool)) == 2
    assert math_equal(r"\sqrt{16}", "4", pool=pool)


@pytest.mark.timeout(120)
def test_concurrent_callers_share_the_pool(pool):
    results: dict[int, bool] = {}

    def check(i: int) -> None:
        results[i] = math_equal(f"\\sqrt{{{i * i}}}", str(i), pool=pool) and not math_equal(
            f"\\sqrt{{{i}}}", "x", pool=pool
        )

    threads = [threading.Thread(target=check, args=(i,)) for i in range(2, 8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {i: True for i in range(2, 8)}


def test_repeated_pairs_are_verified_once(pool, monkeypatch):
    sent = []
    real_map = pool.map

    def recording_map(pairs, timeout=5.0):
        sent.append(list(pairs))
        return real_map(pairs, timeout)

    monkeypatch.setattr(pool, "map", recording_map)
    preds = [r"\boxed{\frac{2}{\sqrt{2}}}"] * 6 + [r"\boxed{2\sqrt{2}}"] * 2
    assert verify_batch(preds, [r"\sqrt{2}"] * 8, pool=pool) == [True] * 6 + [False] * 2
    assert sent == [[(r"\frac{2}{\sqrt{2}}", r"\sqrt{2}"), (r"2\sqrt{2}", r"\sqrt{2}")]]


def test_workers_outlive_the_thread_that_started_them():
    fresh = VerifyPool(workers=1)
    try:
        thread = threading.Thread(target=lambda: fresh.map([("x+1", "1+x")]))
        thread.start()
        thread.join()
        worker = fresh._idle.get()
        fresh._idle.put(worker)
        assert worker.proc.poll() is None
        assert fresh.map([("2x", "x+x")]) == [True]
    finally:
        fresh.close()


_ORPHAN = """
import os, threading, time
from openenvs.verify import VerifyPool
pool = VerifyPool(workers=1)
pool.map([("x+1", "1+x")])
worker = pool._idle.get(); pool._idle.put(worker)
print(worker.proc.pid, flush=True)
threading.Thread(target=pool.map, args=([("9^{9^{9^{9}}}", "1")], 1.0), daemon=True).start()
time.sleep(0.3)
os._exit(0)
"""


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


@pytest.mark.timeout(120)
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc to watch the orphaned worker")
def test_a_worker_busy_when_its_parent_dies_stops():
    import subprocess
    import sys
    import time

    out = subprocess.run([sys.executable, "-c", _ORPHAN], capture_output=True, text=True, timeout=100, check=True)
    pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 60  # the per-request CPU limit (timeout + 2 s of CPU) ends it
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _running(pid), "an orphaned math-verify worker kept running"
