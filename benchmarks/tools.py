"""Tool-calling overheads, measured in one run.

1. Parse throughput of `parse_tool_calls(format="auto")` on a seeded corpus of 12,000 model-like
   outputs: Hermes/Qwen tags, Qwen3-Coder XML, Llama-3 JSON, Mistral, OpenAI JSON, BFCL Python
   calls, prose answers, prose with non-call JSON, and malformed/truncated calls. Reported with
   the exact-recovery rate on the valid outputs, and against a naive Hermes-only parser
   (regex + json.loads, what many trainers inline) on the same corpus as a speed reference.
2. Step overhead per tool call: the bare Python function vs `Tool.run` (validation), vs
   `ToolBox.execute` (JSON args + validation + error handling), vs `ToolEnv.step` with a
   structured call, vs `ToolEnv.step` with the call written as Hermes text (parse included).

Run: python benchmarks/tools.py
"""

from __future__ import annotations

import json
import random
import re
import statistics
import time

from openenvs import Message, Score, Task, ToolCall
from openenvs.tools import ToolBox, ToolEnv, ToolEnvConfig, parse_tool_calls, tool

N_OUTPUTS = 12_000
REPEATS = 5
WORDS = "the of and to in is for on with as by at from that this be are or it an was we can".split()
NAMES = ["get_weather", "search", "calculate", "book_flight", "send_message", "math.factorial", "list_files"]


def _args(rng: random.Random) -> dict:
    out: dict = {}
    for _ in range(rng.randint(0, 4)):
        key = rng.choice(["city", "query", "n", "unit", "items", "flag", "date", "limit"])
        out[key] = rng.choice(
            [rng.randint(-999, 9999), round(rng.uniform(-50, 50), 3), " ".join(rng.sample(WORDS, 3)),
             rng.random() < 0.5, [rng.randint(0, 9) for _ in range(3)], {"k": rng.choice(WORDS)}]
        )
    return out


def _prose(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _py(value) -> str:
    return repr(value)


def make_corpus(n: int) -> list[tuple[str, list[tuple[str, dict]] | None]]:
    """(text, expected calls) pairs; expected is None for malformed outputs."""
    rng = random.Random(0)
    corpus = []
    for _ in range(n):
        calls = [(rng.choice(NAMES), _args(rng)) for _ in range(rng.randint(1, 3))]
        kind = rng.choice(["hermes", "qwen_xml", "llama3", "mistral", "openai", "python", "prose", "prose_json", "broken"])
        lead = _prose(rng, rng.randint(0, 25))
        if kind == "hermes":
            text = lead + "\n" + "".join(f"<tool_call>\n{json.dumps({'name': a, 'arguments': b})}\n</tool_call>\n" for a, b in calls)
        elif kind == "qwen_xml":
            calls = [(a, {k: v for k, v in b.items() if isinstance(v, (int, str)) and not isinstance(v, bool)}) for a, b in calls]
            body = "".join(
                f"<tool_call>\n<function={a}>\n" + "".join(f"<parameter={k}>\n{v}\n</parameter>\n" for k, v in b.items()) + "</function>\n</tool_call>\n"
                for a, b in calls
            )
            calls = [(a, {k: (v if not isinstance(v, str) else v) for k, v in b.items()}) for a, b in calls]
            text = body
        elif kind == "llama3":
            text = "<|python_tag|>" + "; ".join(json.dumps({"name": a, "parameters": b}) for a, b in calls)
        elif kind == "mistral":
            text = "[TOOL_CALLS] " + json.dumps([{"name": a, "arguments": b} for a, b in calls])
        elif kind == "openai":
            text = json.dumps({"tool_calls": [{"id": f"call_{i}", "type": "function", "function": {"name": a, "arguments": json.dumps(b)}} for i, (a, b) in enumerate(calls)]})
        elif kind == "python":
            calls = [(a, {k: v for k, v in b.items() if not isinstance(v, float)}) for a, b in calls]
            text = "[" + ", ".join(f"{a}({', '.join(f'{k}={_py(v)}' for k, v in b.items())})" for a, b in calls) + "]"
        elif kind == "prose":
            text, calls = _prose(rng, rng.randint(5, 80)) + f" The answer is {rng.randint(0, 999)}.", []
        elif kind == "prose_json":
            text, calls = lead + " Result: " + json.dumps({"answer": rng.randint(0, 99), "unit": "kg"}), []
        else:
            good = "".join(f"<tool_call>{json.dumps({'name': a, 'arguments': b})}</tool_call>" for a, b in calls)
            text, calls = good[: rng.randint(12, max(13, len(good) - 3))].replace("}", "", 1), None
        corpus.append((text, calls))
    return corpus


_NAIVE = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)


def naive_hermes(text: str) -> list:
    out = []
    for block in _NAIVE.findall(text):
        try:
            obj = json.loads(block)
            out.append((obj["name"], obj.get("arguments", {})))
        except (ValueError, KeyError, TypeError):
            pass
    return out


def best(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_parse() -> None:
    corpus = make_corpus(N_OUTPUTS)
    texts = [t for t, _ in corpus]
    size_mb = sum(len(t.encode()) for t in texts) / 1e6
    ours = best(lambda: [parse_tool_calls(t) for t in texts])
    naive = best(lambda: [naive_hermes(t) for t in texts])
    exact = total = flagged = malformed = 0
    for text, expected in corpus:
        result = parse_tool_calls(text)
        if expected is None:
            malformed += 1
            flagged += bool(result.errors)
            continue
        total += 1
        got = [(c.name, c.parsed_arguments()) for c in result.calls]
        want = [(a, json.loads(json.dumps(b))) for a, b in expected]
        if expected and isinstance(expected[0][1], dict) and "<function=" in text:  # XML values come back typed by JSON
            want = [(a, {k: (json.loads(v) if isinstance(v, str) and v.lstrip("-").isdigit() else v) for k, v in b.items()}) for a, b in want]
        exact += got == want and not result.errors
    print(f"parse corpus: {len(texts)} outputs, {size_mb:.2f} MB (valid {total}, malformed {malformed})")
    print(f"  parse_tool_calls(auto): {len(texts) / ours:,.0f} outputs/s, {size_mb / ours:.1f} MB/s, {ours / len(texts) * 1e6:.1f} us/output")
    print(f"  naive Hermes-only regex+json: {len(texts) / naive:,.0f} outputs/s (reads 1 of 6 formats)")
    print(f"  ratio ours/naive time: {ours / naive:.2f}x")
    print(f"  exact recovery on valid outputs: {exact}/{total} = {exact / total:.4f}")
    print(f"  malformed outputs reported as errors: {flagged}/{malformed} = {flagged / malformed:.4f}; exceptions: 0")


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: First addend.
        b: Second addend.
    """
    return a + b


class AddEnv(ToolEnv[ToolEnvConfig]):
    add = tool(add)

    def get_task(self, index: int) -> Task:
        return Task(prompt="add things", answer=None)

    def check(self, task: Task) -> Score:
        return Score(reward=0.0, correct=False)


def bench_step(n: int = 20_000) -> None:
    add_tool = tool(add)
    box = ToolBox([add_tool])
    env = AddEnv(max_turns=10**9)
    env.reset(seed=0)
    call = ToolCall.create("add", {"a": 1, "b": 2})
    structured = Message(role="assistant", tool_calls=[call])
    text = '<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>'

    def loop(fn):
        def run():
            for _ in range(n):
                fn()
        return run

    def step(action):
        env.transcript = env.transcript[:2]  # keep the transcript from growing across the benchmark
        return env.step(action)

    direct = best(loop(lambda: add(1, 2))) / n
    validated = best(loop(lambda: add_tool.run({"a": 1, "b": 2}))) / n
    executed = best(loop(lambda: box.execute(call))) / n
    stepped = best(loop(lambda: step(structured)), 3) / n
    parsed = best(loop(lambda: step(text)), 3) / n
    print(f"step overhead per tool call ({n} calls, best of {REPEATS}):")
    print(f"  direct Python call      {direct * 1e6:8.2f} us")
    print(f"  Tool.run (validated)    {validated * 1e6:8.2f} us  ({validated / direct:,.0f}x direct)")
    print(f"  ToolBox.execute         {executed * 1e6:8.2f} us  ({executed / direct:,.0f}x direct)")
    print(f"  ToolEnv.step structured {stepped * 1e6:8.2f} us  ({stepped / direct:,.0f}x direct, +{(stepped - direct) * 1e6:.1f} us)")
    print(f"  ToolEnv.step Hermes text{parsed * 1e6:8.2f} us  ({parsed / direct:,.0f}x direct, +{(parsed - direct) * 1e6:.1f} us)")


if __name__ == "__main__":
    bench_parse()
    bench_step()
    _ = statistics  # stdlib only
