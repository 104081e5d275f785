"""Prometheus text-format metrics of the server (no client library needed)."""

from __future__ import annotations

import bisect
from collections import Counter

__all__ = ["Metrics"]

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """Counters, gauges and one latency histogram per call kind, rendered as Prometheus text."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()  # (op, env_id) -> count
        self.errors: Counter[str] = Counter()  # code -> count
        self.sessions_total = 0
        self.refused_total = 0
        self.reaped_total = 0
        self.hist: dict[str, list[int]] = {}
        self.hist_sum: dict[str, float] = {}

    def observe(self, op: str, env_id: str, seconds: float) -> None:
        """Count one finished call and its latency."""
        self.calls[op, env_id] += 1
        counts = self.hist.get(op)
        if counts is None:
            counts = self.hist[op] = [0] * (len(_BUCKETS) + 1)
        counts[bisect.bisect_left(_BUCKETS, seconds)] += 1
        self.hist_sum[op] = self.hist_sum.get(op, 0.0) + seconds

    def render(self, open_sessions: int, workers: int, restarts: int) -> str:
        """The metrics page."""
        out = [
            "# HELP openenvs_sessions_open Sessions open now.",
            "# TYPE openenvs_sessions_open gauge",
            f"openenvs_sessions_open {open_sessions}",
            "# HELP openenvs_sessions_total Sessions opened since start.",
            "# TYPE openenvs_sessions_total counter",
            f"openenvs_sessions_total {self.sessions_total}",
            "# HELP openenvs_sessions_refused_total Sessions refused at --max-sessions.",
            "# TYPE openenvs_sessions_refused_total counter",
            f"openenvs_sessions_refused_total {self.refused_total}",
            "# HELP openenvs_sessions_reaped_total Sessions closed by the idle timeout.",
            "# TYPE openenvs_sessions_reaped_total counter",
            f"openenvs_sessions_reaped_total {self.reaped_total}",
            "# HELP openenvs_workers Worker processes running.",
            "# TYPE openenvs_workers gauge",
            f"openenvs_workers {workers}",
            "# HELP openenvs_worker_restarts_total Workers replaced after a hang or a crash.",
            "# TYPE openenvs_worker_restarts_total counter",
            f"openenvs_worker_restarts_total {restarts}",
            "# HELP openenvs_calls_total Finished env calls by op and env id.",
            "# TYPE openenvs_calls_total counter",
        ]
        for (op, env_id), n in sorted(self.calls.items()):
            out.append(f'openenvs_calls_total{{op="{op}",env_id="{env_id}"}} {n}')
        out += ["# HELP openenvs_errors_total Error frames sent, by code.", "# TYPE openenvs_errors_total counter"]
        for code, n in sorted(self.errors.items()):
            out.append(f'openenvs_errors_total{{code="{code}"}} {n}')
        out += ["# HELP openenvs_call_seconds Env call latency.", "# TYPE openenvs_call_seconds histogram"]
        for op, counts in sorted(self.hist.items()):
            running = 0
            for bound, count in zip((*_BUCKETS, float("inf")), counts, strict=True):
                running += count
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                out.append(f'openenvs_call_seconds_bucket{{op="{op}",le="{le}"}} {running}')
            out.append(f'openenvs_call_seconds_sum{{op="{op}"}} {self.hist_sum[op]:.6f}')
            out.append(f'openenvs_call_seconds_count{{op="{op}"}} {running}')
        return "\n".join(out) + "\n"
