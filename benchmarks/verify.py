"""Benchmark: `openenvs.verify.verify_batch` against calling math-verify's parse/verify per pair.

Builds a seeded, mixed set of (completion, gold) pairs -- integers, decimals, fractions,
percentages, short expressions, and LaTeX that needs sympy (roots, pi, intervals, sets, tuples,
equations) -- then times, in the same process and on the same pairs:

- baseline: ``verify(parse("\\boxed{" + gold + "}"), parse(completion))`` for each pair;
- ours: ``verify_batch(completions, golds)`` (fast path in-process, the rest in the worker pool),
  on a started pool; the start-up of the pool is timed separately.

The two alternate in chunks of 200 pairs, so that both see the same load on a shared machine.

It prints both wall times, the ratio, and every pair where the verdicts differ.

    python benchmarks/verify.py [--pairs 2400] [--seed 0] [--workers N]
"""

from __future__ import annotations

import argparse
import logging
import random
import time
from fractions import Fraction


def _frac_latex(f: Fraction) -> str:
    if f.denominator == 1:
        return str(f.numerator)
    sign = "-" if f < 0 else ""
    return f"{sign}\\frac{{{abs(f.numerator)}}}{{{f.denominator}}}"


def _decimal(f: Fraction, places: int) -> str:
    return f"{float(f):.{places}f}"


def _symbolic(rng: random.Random, same: bool) -> tuple[str, str]:
    """A pair that needs sympy: roots, pi, intervals, sets, tuples, equations, polynomials, units."""
    k, m, a, b = rng.randint(2, 9), rng.choice([2, 3, 5, 6, 7]), rng.randint(-9, 9), rng.randint(10, 20)
    d = 0 if same else 1
    kind = rng.randrange(10)
    if kind == 0:
        return f"\\sqrt{{{k * k * m}}}", f"{k + d}\\sqrt{{{m}}}"
    if kind == 1:
        return f"\\frac{{{k}}}{{\\sqrt{{{m}}}}}", f"\\frac{{{k + d}\\sqrt{{{m}}}}}{{{m}}}"
    if kind == 2:
        return f"\\pi \\cdot {k}", f"{k + d}\\pi"
    if kind == 3:
        close = ")" if same else "]"
        return f"({a}, {b}{close}", f"({a}, {b})"
    if kind == 4:
        return f"\\{{{b}, {a}\\}}", f"\\{{{a}, {b + d}\\}}"
    if kind == 5:
        return (f"({a}, {b})" if same else f"({b}, {a})"), f"({a}, {b})"
    if kind == 6:
        return f"x = {a}", str(a + d)
    if kind == 7:
        return f"x^2 + {2 * k}x + {k * k}", f"(x + {k + d})^2"
    if kind == 8:
        return f"{b} \\text{{ cm}}", str(b + d)
    return f"\\frac{{{a}+x}}{{{k}}}", f"\\frac{{x+{a + d}}}{{{k}}}"


def _tricky(rng: random.Random) -> tuple[str, str]:
    """Where the float rules matter: rounding to 6 places, integers, percentages."""
    p, q, n = rng.randint(1, 50), rng.choice([3, 7, 9, 11, 13]), rng.randint(1, 500)
    kind = rng.randrange(6)
    if kind == 0:
        return f"{p / q:.6f}", f"\\frac{{{p}}}{{{q}}}"
    if kind == 1:
        return f"{p / q:.4f}", f"\\frac{{{p}}}{{{q}}}"
    if kind == 2:
        return f"{n}.0000004", str(n)
    if kind == 3:
        return f"{n}\\%", f"{n}.0"
    if kind == 4:
        return f"{n}.00", str(n)
    return f"{n / 8:.3f}", f"{n}/8"


def make_pairs(n: int, seed: int) -> list[tuple[str, str, str]]:
    """Return n (category, pred answer, gold) triples, about half of them equal."""
    rng = random.Random(seed)
    out: list[tuple[str, str, str]] = []
    for _ in range(n):
        kind = rng.choices(
            ["int", "decimal", "fraction", "percent", "expr", "symbolic", "tricky"], [28, 15, 20, 8, 10, 14, 5]
        )[0]
        same = rng.random() < 0.5
        if kind == "int":
            gold_v = rng.randint(-5000, 100000)
            pred_v = gold_v if same else gold_v + rng.choice([-1, 1, 10, 100])
            gold = f"{gold_v:,}" if rng.random() < 0.2 and gold_v >= 1000 else str(gold_v)
            pred = f"{pred_v:,}" if rng.random() < 0.2 and pred_v >= 1000 else str(pred_v)
        elif kind == "decimal":
            value = Fraction(rng.randint(1, 99999), 10 ** rng.randint(1, 4))
            gold = _decimal(value, 4).rstrip("0").rstrip(".")
            pred = gold if same else _decimal(value + Fraction(rng.choice([1, -1]), 100), 4)
            if same and rng.random() < 0.3:
                pred = _decimal(value, 5)
        elif kind == "fraction":
            value = Fraction(rng.randint(-50, 50), rng.randint(2, 40))
            gold = _frac_latex(value)
            if same:
                pred = rng.choice(
                    [
                        gold,
                        f"{value.numerator}/{value.denominator}",
                        f"\\dfrac{{{value.numerator}}}{{{value.denominator}}}",
                    ]
                )
                if rng.random() < 0.2 and value.denominator in (2, 4, 5, 8, 10, 20, 25, 40):
                    pred = str(float(value))
            else:
                pred = _frac_latex(value + Fraction(1, value.denominator + 1))
        elif kind == "percent":
            raw = rng.randint(1, 300)
            gold = rng.choice([str(raw), f"{raw}\\%", _decimal(Fraction(raw, 100), 2)])
            pred = f"{raw}\\%" if same else f"{raw + rng.randint(1, 5)}\\%"
        elif kind == "expr":
            a, b, c = rng.randint(1, 30), rng.randint(1, 30), rng.randint(2, 9)
            value = a + b * c
            gold = str(value)
            pred = f"{a} + {b} \\cdot {c}" if same else f"{a} + {b} \\cdot {c + 1}"
            if rng.random() < 0.3:
                pred, gold = f"2^{{{c}}}", str(2**c if same else 2**c + 1)
        elif kind == "symbolic":
            pred, gold = _symbolic(rng, same)
        else:
            pred, gold = _tricky(rng)
        wrapper = rng.choice(["Thus the answer is $\\boxed{%s}$.", "... so we get \\boxed{%s}", "Final: \\boxed{ %s }"])
        out.append((kind, wrapper % pred, gold))
    return out


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=2400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    from math_verify import parse, verify

    from openenvs.verify import VerifyPool, verify_batch
    from openenvs.verify._extract import extract_answer
    from openenvs.verify._fast import fast_equal

    triples = make_pairs(args.pairs, args.seed)
    preds = [p for _, p, _ in triples]
    golds = [g for _, _, g in triples]
    on_fast = [fast_equal(extract_answer(p) or "", g) is not None for p, g in zip(preds, golds, strict=True)]

    # start-up: the first call on a fresh pool starts and warms the workers
    pool = VerifyPool(workers=args.workers)
    warmup = make_pairs(64, args.seed + 1)  # other pairs, so nothing below is cached
    start = time.perf_counter()
    verify_batch([p for _, p, _ in warmup], [g for _, _, g in warmup], pool=pool)
    t_start = time.perf_counter() - start

    # the load on a shared machine drifts: alternate the two in chunks so both see the same load
    baseline: list[bool] = []
    ours: list[bool] = []
    t_base = t_ours = 0.0
    t_base_by_path = [0.0, 0.0]  # [fast-path pairs, math-verify pairs]
    chunk = 200
    for lo in range(0, len(triples), chunk):
        for k in range(lo, min(lo + chunk, len(triples))):
            start = time.perf_counter()
            baseline.append(bool(verify(parse("\\boxed{" + golds[k] + "}"), parse(preds[k]))))
            elapsed = time.perf_counter() - start
            t_base += elapsed
            t_base_by_path[0 if on_fast[k] else 1] += elapsed
        start = time.perf_counter()
        ours += verify_batch(preds[lo : lo + chunk], golds[lo : lo + chunk], pool=pool)
        t_ours += time.perf_counter() - start
    fast_idx = [k for k in range(len(triples)) if on_fast[k]]
    start = time.perf_counter()
    verify_batch([preds[k] for k in fast_idx], [golds[k] for k in fast_idx], pool=pool)
    t_ours_fast = time.perf_counter() - start
    pool.close()

    n_fast = len(fast_idx)
    print(
        f"pairs: {len(triples)} (fast path: {n_fast}, math-verify in {pool.size} worker processes: {len(triples) - n_fast})"
    )
    print(f"math-verify parse+verify per pair : {t_base:8.2f} s")
    print(f"verify_batch (warm pool)          : {t_ours:8.2f} s   ratio {t_base / t_ours:6.1f}x")
    print(
        f"  fast-path pairs: math-verify {t_base_by_path[0]:.2f} s, ours {t_ours_fast:.3f} s "
        f"({t_base_by_path[0] / max(t_ours_fast, 1e-9):.0f}x)"
    )
    print(f"  other pairs:     math-verify {t_base_by_path[1]:.2f} s, ours about {t_ours - t_ours_fast:.2f} s")
    print(f"pool start-up (first call, {pool.size} workers, 64 pairs): {t_start:.2f} s; time-outs: {pool.timeouts}")
    diffs = [(k, p, g, b, o) for (k, p, g), b, o in zip(triples, baseline, ours, strict=True) if b != o]
    agree = len(triples) - len(diffs)
    print(f"agreement: {agree}/{len(triples)} ({100 * agree / len(triples):.2f}%)")
    seen = set()
    for kind, pred, gold, base, our in diffs:
        if (pred, gold) in seen:
            continue
        seen.add((pred, gold))
        print(f"  differs [{kind}] pred={pred!r} gold={gold!r}: math-verify={base} ours={our}")


if __name__ == "__main__":
    main()
