"""What a worker does with each call: make, reset, step and close the env of a session.

Every handler returns ``(ok, payload)``: on success the payload is the JSON text of the answer
frame (built here, in the worker, so the server's event loop only forwards text); on failure it is
``(exception type name, message)``. Nothing a client sends is executed except through the env's
own API: actions are validated into `str` or `Message` before `step` sees them.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from .._env import Env
from .._registry import Registry
from .._spec import EnvSpec
from . import _openenv_wire as oew
from ._protocol import action_from_wire, dumps, reset_frame, step_frame

__all__ = ["Handlers"]

logger = logging.getLogger(__name__)


class Handlers:
    """The env instances of one worker, by session id."""

    def __init__(self) -> None:
        self.envs: dict[str, Env] = {}
        self.lock = threading.Lock()
        self.registry = Registry(builtin=False, entry_points=False)

    def handle(self, op: str, session: str, arg: Any) -> tuple[bool, Any]:
        """Run one call; never raises."""
        try:
            method = getattr(self, f"op_{op}")
            return True, method(session, arg)
        except BaseException as exc:  # the env's own errors go back to the client as error frames
            return False, (type(exc).__name__, str(exc) or repr(exc))

    def _env(self, session: str) -> Env:
        env = self.envs.get(session)
        if env is None:
            raise KeyError(f"session {session} has no env on this worker (closed)")
        return env

    def op_ping(self, session: str, arg: Any) -> str:
        return "pong"

    def op_open(self, session: str, arg: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
        spec_data, kwargs = arg
        env = self.registry.make(EnvSpec.model_validate(spec_data), **kwargs)
        with self.lock:
            self.envs[session] = env
        spec = env.spec
        assert spec is not None
        has_oracle = callable(getattr(env, "oracle", None))
        return {"spec": spec.model_dump(mode="json"), "fingerprint": spec.fingerprint, "oracle": has_oracle}

    def op_oracle(self, session: str, arg: Any) -> Any:
        from ._protocol import action_to_wire

        action = self._env(session).oracle()  # type: ignore[attr-defined]
        return None if action is None else action_to_wire(action)

    def op_reset(self, session: str, arg: tuple[str, int | None, dict[str, Any] | None]) -> str:
        fmt, seed, options = arg
        result = self._env(session).reset(seed=seed, options=options)
        if fmt == "openenv":
            return dumps(oew.reset_response(result))
        return dumps(reset_frame(result))

    def op_step(self, session: str, arg: tuple[str, Any]) -> str:
        fmt, action = arg
        env = self._env(session)
        if fmt == "openenv":
            return dumps(oew.step_response(env, action))
        return dumps(step_frame(env.step(action_from_wire(action))))

    def op_tools(self, session: str, arg: Any) -> list[dict[str, Any]]:
        return oew.list_tools(self._env(session))

    def op_call_tool(self, session: str, arg: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        name, arguments = arg
        return oew.call_tool(self._env(session), name, arguments)

    def op_state(self, session: str, arg: Any) -> dict[str, Any]:
        env = self._env(session)
        return {"episode_id": session, "step_count": env.turn}

    def op_close(self, session: str, arg: Any) -> str:
        with self.lock:
            env = self.envs.pop(session, None)
        if env is not None:
            env.close()
        return "closed"

    def close_all(self) -> None:
        """Close every env (worker shutdown)."""
        with self.lock:
            envs, self.envs = list(self.envs.values()), {}
        for env in envs:
            try:
                env.close()
            except Exception:  # shutting down: log and go on
                logger.exception("closing %r failed", env)

    # ---- the tool-env surface TRL's environment_factory uses (see _remote_tools) ----------------

    def _tool_env(self, session: str) -> Any:
        from ..tools._env import ToolEnv

        env = self._env(session)
        if not isinstance(env, ToolEnv):
            raise TypeError(f"{type(env).__name__} is not a tool env; this call needs one")
        return env

    def op_tool_specs(self, session: str, arg: Any) -> list[dict[str, Any]]:
        return [t.to_openai() for t in self._tool_env(session).tools()]

    def op_transcript_append(self, session: str, arg: dict[str, Any]) -> None:
        from .._types import Message

        self._tool_env(session).transcript.append(Message.model_validate(arg))

    def op_run_tool(self, session: str, arg: dict[str, Any]) -> dict[str, Any]:
        from .._types import ToolCall

        message = self._tool_env(session).call_tool(ToolCall.model_validate(arg))
        return message.to_dict()  # type: ignore[no-any-return]

    def op_check(self, session: str, arg: Any) -> dict[str, Any]:
        env = self._tool_env(session)
        if env.task is None:
            raise ValueError("call reset() before get_reward()")
        return env.check(env.task).model_dump(mode="json")  # type: ignore[no-any-return]
