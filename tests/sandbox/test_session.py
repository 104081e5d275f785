"""`Sandbox.session`: one long-lived program answering a line per call, on every backend.

The local backend keeps one process up for the session; other backends replay the calls
(`openenvs.sandbox._session.ReplaySession`). Either way the answers are the same.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from openenvs.sandbox import ExecRequest, Sandbox
from openenvs.sandbox._session import ReplaySession

UPPER = "import sys\nfor line in sys.stdin:\n    print(line.strip().upper(), flush=True)\n"


def test_session_answers_one_line_per_call(box: Sandbox) -> None:
    session = box.session(UPPER, timeout=30)
    assert [session.call(word, timeout=10) for word in ("abc", "déjà", "x y")] == ["ABC", "DÉJÀ", "X Y"]
    assert session.ended is None
    result = session.close()
    assert result.error is None and session.ended == "closed"
    assert session.call("late", timeout=1) is None


def test_a_slow_reply_ends_the_session_and_the_next_one_is_fresh(box: Sandbox) -> None:
    slow = "import sys, time\nfor n, line in enumerate(sys.stdin):\n    time.sleep(30 * n)\n    print(n, flush=True)\n"
    session = box.session(slow, timeout=60)
    assert session.call("a", timeout=10) == "0"
    assert session.call("b", timeout=0.5) is None and session.ended == "timeout"
    session.close()
    again = box.session(UPPER, timeout=30)
    assert again.call("fresh", timeout=10) == "FRESH"
    again.close()


def test_a_program_that_exits_ends_the_session(box: Sandbox) -> None:
    session = box.session("print(input(), flush=True)\nraise SystemExit(3)", timeout=30)
    assert session.call("once", timeout=10) == "once"
    assert session.call("twice", timeout=10) is None and session.ended == "exited"
    assert session.close().exit_code == 3


def test_leftovers_of_a_session_never_reach_the_next(box: Sandbox) -> None:
    forger = (
        "import os, sys, time\n"
        "line = sys.stdin.readline()\n"
        "if os.fork() == 0:\n"
        "    time.sleep(0.3)\n"
        "    os.write(1, b'forged\\n' * 100)\n"
        "    os._exit(0)\n"
        "print('mine', flush=True)\n"
        "os.write(1, b'extra\\n' * 100)\n"
        "sys.stdin.readline()\n"
    )
    first = box.session(forger, timeout=30)
    assert first.call("go", timeout=10) == "mine"
    first.close()
    second = box.session(UPPER, timeout=30)
    replies = [second.call(f"n{i}", timeout=10) for i in range(5)]
    assert replies == [f"N{i}" for i in range(5)]
    second.close()


def test_an_oversized_reply_ends_the_session() -> None:
    with Sandbox(backend="local", workers=1) as sb:
        session = sb.session("input()\nprint('x' * 100000, flush=True)", timeout=30, max_line_bytes=1000)
        assert session.call("go", timeout=10) is None and session.ended == "reply_too_large"
        session.close()


def test_replay_session_gives_the_same_answers() -> None:
    counter = "import sys\ntotal = 0\nfor line in sys.stdin:\n    total += int(line)\n    print(total, flush=True)\n"
    with Sandbox(backend="local", workers=2) as sb:  # the live session holds one worker
        live = sb.session(counter, timeout=30)
        replay = ReplaySession(sb.backend, sb.request(counter, timeout=30))
        for n in (1, 2, 3, 4):
            assert live.call(str(n), timeout=10) == replay.call(str(n), timeout=10)
        assert live.close().error is None and replay.close().error is None
        bad = ReplaySession(sb.backend, ExecRequest(code="import time\ntime.sleep(5)", timeout=30))
        assert bad.call("1", timeout=0.3) is None and bad.ended == "timeout"


def test_hide_paths_covers_a_readable_dir() -> None:
    probe = Path(__file__).parent / f"_hidden_{uuid.uuid4().hex[:8]}"
    (probe / "data").mkdir(parents=True)
    (probe / "data" / "answers.txt").write_text("42")
    (probe / "open.txt").write_text("visible")
    read = f"import os\nprint(sorted(os.listdir({str(probe / 'data')!r})), open({str(probe / 'open.txt')!r}).read())"
    try:
        with Sandbox(backend="local", workers=1, read_paths=[str(probe)]) as sb:
            assert sb.run(read).stdout == "['answers.txt'] visible\n"
        with Sandbox(backend="local", workers=1, read_paths=[str(probe)], hide_paths=[str(probe / "data")]) as sb:
            assert sb.run(read).stdout == "[] visible\n"
            layers = {layer.name: layer for layer in sb.layers()}
            assert layers["hidden_paths"].active, layers["hidden_paths"].detail
    finally:
        (probe / "data" / "answers.txt").unlink()
        (probe / "data").rmdir()
        (probe / "open.txt").unlink()
        probe.rmdir()


@pytest.mark.parametrize("bad", [None, 0, -1])
def test_session_rejects_bad_limits(bad: float | None) -> None:
    sb = Sandbox(backend="local", workers=1)
    try:
        if bad is None:
            with pytest.raises(Exception, match="str of Python source"):
                sb.session(123)  # type: ignore[arg-type]
        else:
            with pytest.raises(Exception, match="timeout"):
                sb.session(UPPER, timeout=bad)
    finally:
        sb.close()
