"""Gymnasium bridge: every registered id works with ``gymnasium.make("openenvs/<id>")``.

Importing this module registers every openenvs id with Gymnasium under ``openenvs/<id>``::

    import gymnasium, openenvs.gymnasium
    env = gymnasium.make("openenvs/math/arithmetic-v1", difficulty=2)
    # or, with no import first: gymnasium.make("openenvs.gymnasium:openenvs/math/arithmetic-v1")

Gymnasium's id grammar
does not allow a second ``/``, so registration widens its namespace pattern to accept
``openenvs/<namespace>`` (ids that were valid before parse exactly as before).

The Gymnasium-facing env (:class:`GymnasiumEnv`) observes a tuple of OpenAI-format message dicts
(the new messages) and acts with a string (an assistant message). Its spaces,
:class:`MessagesSpace` and :class:`ChatTextSpace`, describe those values so Gymnasium's
``check_env`` can validate them. The openenvs `Observation` (with tools) is in ``info["observation"]``.
"""

from __future__ import annotations

import re
import string
from typing import Any

import gymnasium
import numpy as np
from gymnasium.envs import registration as _registration

from ._api import list_envs, make
from ._env import Env
from ._types import Message, Observation

__all__ = ["ChatTextSpace", "GymnasiumEnv", "MessagesSpace", "gym_id", "register_gymnasium_envs"]

_ROLES = ("system", "user", "assistant", "tool")
_CHARS = string.ascii_letters + string.digits + string.punctuation + " \n"
PREFIX = "openenvs/"


class ChatTextSpace(gymnasium.Space[str]):
    """Any Unicode string up to `max_length` characters: an assistant message's text."""

    def __init__(self, max_length: int = 100_000, seed: int | np.random.Generator | None = None) -> None:
        """Create the space; `max_length` bounds `contains` and `sample`."""
        super().__init__(shape=None, dtype=None, seed=seed)
        self.max_length = max_length

    @property
    def is_np_flattenable(self) -> bool:
        """Text has no fixed-size vector form."""
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        """A random printable string of 0-64 characters."""
        length = int(self.np_random.integers(0, 65))
        return "".join(self.np_random.choice(list(_CHARS), size=length))

    def contains(self, x: Any) -> bool:
        """True for a `str` within `max_length`."""
        return isinstance(x, str) and len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"ChatTextSpace(max_length={self.max_length})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChatTextSpace) and other.max_length == self.max_length


class MessagesSpace(gymnasium.Space[tuple[dict[str, Any], ...]]):
    """A tuple of OpenAI-format chat message dicts (``role`` and ``content`` at least)."""

    def __init__(self, max_messages: int = 1_000, seed: int | np.random.Generator | None = None) -> None:
        """Create the space; `max_messages` bounds `contains` and `sample`."""
        super().__init__(shape=None, dtype=None, seed=seed)
        self.max_messages = max_messages

    @property
    def is_np_flattenable(self) -> bool:
        """Messages have no fixed-size vector form."""
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> tuple[dict[str, Any], ...]:
        """A random tuple of 0-4 user/system/tool messages with printable text."""
        out = []
        for _ in range(int(self.np_random.integers(0, 5))):
            role = str(self.np_random.choice(["system", "user", "tool"]))
            text = "".join(self.np_random.choice(list(_CHARS), size=int(self.np_random.integers(0, 32))))
            message: dict[str, Any] = {"role": role, "content": text}
            if role == "tool":
                message["tool_call_id"] = "call_0"
            out.append(message)
        return tuple(out)

    def contains(self, x: Any) -> bool:
        """True for a tuple of dicts that validate as `Message`."""
        if not isinstance(x, tuple) or len(x) > self.max_messages:
            return False
        for item in x:
            if not isinstance(item, dict) or item.get("role") not in _ROLES:
                return False
            try:
                Message.model_validate(item)
            except ValueError:
                return False
        return True

    def __repr__(self) -> str:
        return f"MessagesSpace(max_messages={self.max_messages})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MessagesSpace) and other.max_messages == self.max_messages


def _to_gym(obs: Observation) -> tuple[dict[str, Any], ...]:
    return tuple(m.to_dict() for m in obs.messages)


class GymnasiumEnv(gymnasium.Env[tuple[dict[str, Any], ...], str]):
    """A `gymnasium.Env` view of an openenvs env (made with `gymnasium.make("openenvs/<id>")`)."""

    metadata: dict[str, Any] = {"render_modes": ["ansi"], "render_fps": 1}  # noqa: RUF012

    def __init__(self, env_id: str, render_mode: str | None = None, **kwargs: Any) -> None:
        """Make the openenvs env `env_id` with `kwargs` and wrap it."""
        self.env: Env = make(env_id, **kwargs)
        self.observation_space = MessagesSpace()
        self.action_space = ChatTextSpace()
        self.render_mode = render_mode
        self._transcript: list[dict[str, Any]] = []

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[tuple[dict[str, Any], ...], dict[str, Any]]:
        """Reset the wrapped env; tools and the full Observation are in the info dict."""
        super().reset(seed=seed)
        obs, info = self.env.reset(seed=seed, options=options)
        self._transcript = [m.to_dict() for m in obs.messages]
        return _to_gym(obs), {**info, "observation": obs, "tools": [t.to_openai() for t in obs.tools]}

    def step(self, action: str) -> tuple[tuple[dict[str, Any], ...], float, bool, bool, dict[str, Any]]:
        """Step the wrapped env with an assistant message text."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._transcript += [{"role": "assistant", "content": action}, *(m.to_dict() for m in obs.messages)]
        return _to_gym(obs), float(reward), bool(terminated), bool(truncated), {**info, "observation": obs}

    def render(self) -> str | None:
        """With ``render_mode="ansi"``, the transcript so far as text."""
        if self.render_mode != "ansi":
            return None
        return "\n".join(f"[{m['role']}] {m.get('content') or ''}" for m in self._transcript)

    def close(self) -> None:
        """Close the wrapped env."""
        self.env.close()


def gym_id(env_id: str) -> str:
    """The Gymnasium id of an openenvs id: ``openenvs/<id>``."""
    return PREFIX + env_id


def _widen_gymnasium_id_grammar() -> None:
    pattern = r"^(?:(?P<namespace>[\w:/-]+)\/)?(?:(?P<name>[\w:.-]+?))(?:-v(?P<version>\d+))?$"
    if _registration.ENV_ID_RE.pattern != pattern:
        _registration.ENV_ID_RE = re.compile(pattern)


def register_gymnasium_envs() -> list[str]:
    """Register every openenvs id with Gymnasium as ``openenvs/<id>``; returns the Gymnasium ids."""
    _widen_gymnasium_id_grammar()
    ids = []
    for spec in list_envs():
        gid = gym_id(spec.id)
        if gid not in _registration.registry:
            gymnasium.register(
                id=gid,
                entry_point="openenvs.gymnasium:GymnasiumEnv",
                kwargs={"env_id": spec.id},
                max_episode_steps=spec.max_turns,
                disable_env_checker=True,
            )
        ids.append(gid)
    return ids


register_gymnasium_envs()
