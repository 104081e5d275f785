"""The `Env` base class and the helpers for the two common episode shapes.

An environment is a Gymnasium-style object: ``reset(*, seed=None, options=None)`` returns
``(Observation, info)`` and ``step(action)`` returns a :class:`~openenvs.StepResult`, which
unpacks like Gymnasium's 5-tuple. Observations carry chat messages; actions are a `str`
(an assistant message) or a :class:`~openenvs.Message`.
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any, ClassVar

from ._errors import ResetNeeded
from ._types import Action, Observation, StepResult

if TYPE_CHECKING:
    import numpy as np

    from ._spec import EnvSpec

__all__ = ["Env", "action_text"]


def action_text(action: Action) -> str:
    """The text of an action, whether it is a `str` or a `Message`.

    Example:
        >>> action_text(Message(role="assistant", content="42"))
        '42'
    """
    return action if isinstance(action, str) else (action.content or "")


def _begin_reset(self: Env, seed: int | None) -> None:
    if seed is not None:
        self._seed = seed
        self._np_random = None
    self._turn = 0
    self._done = False


def _wrap_reset(reset: Any) -> Any:
    @functools.wraps(reset)
    def wrapped(self: Env, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        if self._in_call:  # reached through super().reset() from a wrapped override: bookkeeping already done
            return reset(self, seed=seed, options=options)
        _begin_reset(self, seed)
        self._in_call = True
        try:
            result = reset(self, seed=seed, options=options)
        finally:
            self._in_call = False
        self._done = False
        return result

    wrapped.__openenvs_wrapped__ = True  # type: ignore[attr-defined]
    return wrapped


def _wrap_areset(areset: Any) -> Any:
    @functools.wraps(areset)
    async def wrapped(self: Env, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        if self._in_call:
            return await areset(self, seed=seed, options=options)
        _begin_reset(self, seed)
        self._in_call = True
        try:
            result = await areset(self, seed=seed, options=options)
        finally:
            self._in_call = False
        self._done = False
        return result

    wrapped.__openenvs_wrapped__ = True  # type: ignore[attr-defined]
    return wrapped


def _reset_needed(self: Env) -> ResetNeeded:
    return ResetNeeded(
        f"{type(self).__name__}.step() called "
        + ("before reset()" if self._done is None else "after the episode ended")
        + "; call env.reset(seed=...) to start an episode."
    )


def _after_step(self: Env, result: Any) -> StepResult:
    """Count the turn, fill the optional info keys, apply `max_turns` and mark the episode done (hot path)."""
    self._turn = turn = self._turn + 1
    out: StepResult = result if type(result) is StepResult else StepResult(*result)
    info = out[4]
    if isinstance(info, dict):  # anything else is left for check_env to report
        if "correct" not in info:
            info["correct"] = None
        if "source" not in info:
            spec = self.spec
            info["source"] = {"env_id": spec.id if spec is not None else None, "index": None, "difficulty": None}
    if out[2] or out[3]:
        self._done = True
    elif self.max_turns is not None and turn >= self.max_turns:
        if isinstance(info, dict):
            info["truncated_by"] = "max_turns"
        out = out._replace(truncated=True)
        self._done = True
    return out


def _wrap_step(step: Any) -> Any:
    @functools.wraps(step)
    def wrapped(self: Env, action: Action) -> StepResult:
        if self._in_call:  # super().step() from a wrapped override, or step() called by astep(): count once
            return step(self, action)  # type: ignore[no-any-return]
        if self._done is not False:
            raise _reset_needed(self)
        self._in_call = True
        try:
            result = step(self, action)
        finally:
            self._in_call = False
        return _after_step(self, result)

    wrapped.__openenvs_wrapped__ = True  # type: ignore[attr-defined]
    return wrapped


def _wrap_astep(astep: Any) -> Any:
    @functools.wraps(astep)
    async def wrapped(self: Env, action: Action) -> StepResult:
        if self._in_call:
            return await astep(self, action)  # type: ignore[no-any-return]
        if self._done is not False:
            raise _reset_needed(self)
        self._in_call = True
        try:
            result = await astep(self, action)
        finally:
            self._in_call = False
        return _after_step(self, result)

    wrapped.__openenvs_wrapped__ = True  # type: ignore[attr-defined]
    return wrapped


class Env:
    """Base class of every openenvs environment.

    A subclass MUST override:

    - ``reset(*, seed=None, options=None) -> (Observation, info)``: call ``super().reset(seed=seed)``
      first, which seeds :attr:`np_random`; return the opening messages and the tools on offer.
    - ``step(action) -> StepResult``: take one policy turn (a `str` or an assistant `Message`) and
      return the messages to append, the reward, ``terminated``, ``truncated`` and ``info``.

    A subclass MAY override ``areset``/``astep`` (async twins; the defaults call the sync methods),
    ``close`` (release processes and files), and set ``max_turns`` (the base class truncates the
    episode after that many steps) and ``metadata``.

    ``info`` keys: ``correct`` (bool, or None when the env cannot tell) and ``source``
    (``{"env_id", "index", "difficulty"}``) are optional for the subclass: the base class fills
    ``correct=None`` and a ``source`` naming the env id when a step leaves them out. Envs that know
    the answer SHOULD set ``correct``; everything else in ``info`` is free-form.

    The base class tracks the turn count (once per public call, however deep the overrides that
    call ``super().step()``), raises :class:`~openenvs.ResetNeeded` when ``step`` is
    called before ``reset`` or after the episode ended, and records the `spec` it was made from.
    """

    spec: EnvSpec | None = None
    """The manifest this instance was made from (set by `make`), kwargs included."""
    max_turns: int | None = None
    """Truncate the episode after this many steps (None: never)."""
    metadata: ClassVar[dict[str, Any]] = {}
    _seed: int | None = None
    _np_random: np.random.Generator | None = None
    _turn: int = 0
    _done: bool | None = None
    _in_call: bool = False  # inside a public reset/step: nested wrapped calls skip the bookkeeping

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "reset" in cls.__dict__ and not getattr(cls.__dict__["reset"], "__openenvs_wrapped__", False):
            cls.reset = _wrap_reset(cls.__dict__["reset"])  # type: ignore[method-assign]
        own = cls.__dict__
        for name, wrap in (("step", _wrap_step), ("astep", _wrap_astep), ("areset", _wrap_areset)):
            if name in own and not getattr(own[name], "__openenvs_wrapped__", False):
                setattr(cls, name, wrap(own[name]))
        if "astep" in own and cls.step is Env.step:
            cls.step = _sync_step  # type: ignore[method-assign]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Observation, dict[str, Any]]:
        """Start an episode; a subclass calls this first to seed :attr:`np_random`."""
        if seed is not None:
            self._seed = seed
            self._np_random = None
        self._turn = 0
        self._done = False
        return Observation(), {}

    def step(self, action: Action) -> StepResult:
        """Take one policy turn; subclasses override this (or `astep`)."""
        raise NotImplementedError(f"{type(self).__name__} must override step() or astep()")

    async def areset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Async twin of `reset`; the default calls `reset`."""
        return self.reset(seed=seed, options=options)

    async def astep(self, action: Action) -> StepResult:
        """Async twin of `step`; the default calls `step`."""
        return self.step(action)

    def close(self) -> None:
        """Release resources; safe to call more than once."""

    @property
    def np_random(self) -> np.random.Generator:
        """This instance's RNG, seeded by ``reset(seed=...)`` (random entropy if never seeded)."""
        if self._np_random is None:
            import numpy as np

            self._np_random = np.random.default_rng(self._seed)
        return self._np_random

    @property
    def seed(self) -> int | None:
        """The seed of the last seeded reset, or None."""
        return self._seed

    @property
    def turn(self) -> int:
        """Number of steps taken in the current episode."""
        return self._turn

    @property
    def unwrapped(self) -> Env:
        """This environment (Gymnasium compatibility)."""
        return self

    def __enter__(self) -> Env:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec.id if self.spec else '(unregistered)'}>"


def _sync_step(self: Env, action: Action) -> StepResult:
    """Run an async-only env's `astep` from sync code (not from inside a running loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(self.astep(action))
    raise RuntimeError(
        f"{type(self).__name__} is async-only; inside an event loop call `await env.astep(action)` instead of step()."
    )


