"""The trusted grader's cost per HumanEval solution vs the old in-sandbox harness, in one run.

Old (openenvs <= grader v1, reimplemented here): one sandboxed process runs the solution and
then the tests in the same interpreter, reporting results on nonce-tagged stdout lines (the
design the reward hacks of issue 11 broke). New (`openenvs.verify.run_unit_tests` with a
prelude): the tests run in this process and call the solution, alone in one warm sandboxed
process, through data-only stubs.

Both grade all 164 canonical solutions on the same sandbox (one worker, one solution at a time),
interleaved in rounds so machine load hits both alike. Prints the median per-solution cost of
each, the ratio (goal: new <= 1.5x old), the slowest problems, and that both score 164/164.

Run: python benchmarks/grader.py [--rounds 3] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import time

from openenvs.envs.code._data import load_humaneval
from openenvs.sandbox import Sandbox
from openenvs.verify import run_unit_tests

OLD_HARNESS = r"""
import json, signal, sys, traceback
_nonce = open("nonce.txt").read().strip()
_emit = sys.stdout.write
_tests = json.load(open("tests.json"))
_limit = float(_tests["per_test_timeout"])
def _alarm(signum, frame):
    raise TimeoutError(f"test took longer than {_limit:g}s")
signal.signal(signal.SIGALRM, _alarm)
_ns = {"__name__": "solution"}
try:
    signal.setitimer(signal.ITIMER_REAL, _limit)
    exec(compile(open("solution.py").read(), "solution.py", "exec"), _ns)
    signal.setitimer(signal.ITIMER_REAL, 0)
except BaseException as exc:
    _emit("\n" + _nonce + " " + json.dumps({"setup": repr(exc)}) + "\n")
    raise SystemExit(1)
for _i, _test in enumerate(_tests["tests"]):
    _err = None
    try:
        signal.setitimer(signal.ITIMER_REAL, _limit)
        exec(compile(_test, f"test_{_i + 1}", "exec"), dict(_ns))
    except BaseException as exc:
        _err = traceback.format_exception_only(type(exc), exc)[-1].strip()[:500]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    _emit("\n" + _nonce + " " + json.dumps({"i": _i, "error": _err}) + "\n")
"""


def old_grade(box: Sandbox, program: str, tests: list[str], per_test_timeout: float) -> float:
    """The v1 grader: solution and tests in one sandboxed process; fraction of tests passed."""
    nonce = secrets.token_hex(16)
    files = {
        "solution.py": program,
        "tests.json": json.dumps({"tests": tests, "per_test_timeout": per_test_timeout}),
        "nonce.txt": nonce,
    }
    result = box.run(OLD_HARNESS, files=files, timeout=per_test_timeout * (len(tests) + 1) + 1, memory_mb=1024)
    passed = set()
    for line in result.stdout.splitlines():
        if line.startswith(nonce + " "):
            record = json.loads(line[len(nonce) + 1 :])
            if "i" in record and record["error"] is None:
                passed.add(record["i"])
    return len(passed) / len(tests)


def new_grade(box: Sandbox, problem: dict[str, str], program: str, per_test_timeout: float) -> float:
    """The trusted grader, as `code/humaneval-v1` calls it."""
    report = run_unit_tests(
        program,
        [f"check({problem['entry_point']})"],
        prelude=f"{problem['prompt']}\n\n{problem['test']}\n",
        entry_point=problem["entry_point"],
        sandbox=box,
        per_test_timeout=per_test_timeout,
        memory_mb=1024,
    )
    return report.fraction


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="passes over the 164 problems (each: old then new)")
    parser.add_argument("--workers", type=int, default=1, help="sandbox workers (solutions graded one at a time)")
    args = parser.parse_args()
    problems = load_humaneval()
    programs = [p["prompt"] + p["canonical_solution"] for p in problems]
    old_tests = [[f"{p['test']}\n\ncheck({p['entry_point']})\n"] for p in problems]
    old_t: list[list[float]] = [[] for _ in problems]
    new_t: list[list[float]] = [[] for _ in problems]
    old_score = new_score = 0.0
    with Sandbox(workers=args.workers) as box:
        box.run("pass")  # start the worker outside the timings
        for _ in range(args.rounds):
            old_score = new_score = 0.0
            for i, p in enumerate(problems):
                t = time.perf_counter()
                old_score += old_grade(box, programs[i], old_tests[i], 20.0)
                old_t[i].append(time.perf_counter() - t)
                t = time.perf_counter()
                new_score += new_grade(box, p, programs[i], 20.0)
                new_t[i].append(time.perf_counter() - t)
    old_med = [statistics.median(ts) for ts in old_t]
    new_med = [statistics.median(ts) for ts in new_t]
    old_total, new_total = sum(old_med), sum(new_med)
    print(f"HumanEval canonical solutions: {len(problems)}, rounds: {args.rounds}, sandbox workers: {args.workers}")
    print(f"old grader (solution + tests in one sandboxed process): {old_score:.0f}/{len(problems)} pass")
    print(f"new trusted grader (tests here, solution in a session): {new_score:.0f}/{len(problems)} pass")
    print(f"per solution, mean of medians: old {1000 * old_total / len(problems):7.2f} ms")
    print(f"                               new {1000 * new_total / len(problems):7.2f} ms")
    ratio = new_total / old_total
    print(f"ratio new/old: {ratio:.2f}x (goal <= 1.5x): {'OK' if ratio <= 1.5 else 'MISSED'}")
    print(f"per-problem ratio: median {statistics.median(n / o for n, o in zip(new_med, old_med, strict=True)):.2f}x")
    slow = sorted(range(len(problems)), key=lambda k: new_med[k] - old_med[k], reverse=True)[:5]
    for k in slow:
        print(f"  {problems[k]['task_id']:>14}: old {1000 * old_med[k]:6.1f} ms, new {1000 * new_med[k]:6.1f} ms")


if __name__ == "__main__":
    main()
