"""Gymnasium envs with a text rendering as openenvs multi-turn envs.

    >>> from openenvs.bridges.gymnasium import from_gym
    >>> env = from_gym("FrozenLake-v1", render="frozen_lake", parse_action="frozen_lake")
    >>> obs, info = env.reset(seed=0)        # the rules and the map, '@' where you stand
    >>> obs, reward, terminated, truncated, info = env.step("[down]")

How Gymnasium maps:

- **Observation -> text.** ``render(observation, env) -> str`` turns each Gymnasium observation
  into the text of one user message (``env`` is the unwrapped Gymnasium env, for maps and
  decoders). Built-in renderers: `RENDERERS`. The default, ``"auto"``, passes a `str`
  observation through, uses ``env.render()`` for an env made with ``render_mode="ansi"``, and
  otherwise writes ``Observation: <value>``.
- **Text -> action.** ``parse_action(text, env) -> action`` reads the model's turn; raising
  `ValueError` means the text is no valid action: its message goes back to the model as feedback
  (reward `invalid_action_reward`, no Gymnasium step), and after `max_invalid` such turns in a row
  the episode is truncated. Built-in parsers: `PARSERS`; ``"auto"`` reads the last integer for a
  ``Discrete`` space and takes the text itself for a ``Text`` space.
- **Rewards, termination, truncation** are Gymnasium's own, unscaled (the manifests give each
  env's range); Gymnasium's ``TimeLimit`` truncation comes through as ``truncated``.
- **Seeds.** ``reset(seed=s)`` calls Gymnasium's ``reset(seed=s)``, so the episode is the one
  Gymnasium plays for that seed.

The toy-text envs are registered as ``gymnasium/frozen-lake-v1``, ``gymnasium/frozen-lake-8x8-v1``,
``gymnasium/cliff-walking-v1``, ``gymnasium/cliff-walking-slippery-v1``, ``gymnasium/taxi-v4`` and
``gymnasium/blackjack-v1`` (`specs`), each with the renderer and parser documented here.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import Field

from .._env import Env, action_text
from .._errors import ConfigError
from .._registry import load_entry_point
from .._shapes import EnvConfig, build_config
from .._spec import EnvSpec, Source, VerifierInfo, package_version
from .._types import Action, Message, Observation, StepResult
from ._chat import user_observation

__all__ = [
    "PARSERS",
    "RENDERERS",
    "ActionParser",
    "GymTextConfig",
    "GymTextEnv",
    "Renderer",
    "choice_parser",
    "from_gym",
    "specs",
]

UPSTREAM_URL = "https://github.com/Farama-Foundation/Gymnasium"


class Renderer(Protocol):
    """Turns a Gymnasium observation into the text the model reads."""

    def __call__(self, observation: Any, env: Any) -> str: ...  # noqa: D102


class ActionParser(Protocol):
    """Turns the model's text into a Gymnasium action; raises `ValueError` (the feedback) when it cannot."""

    def __call__(self, text: str, env: Any) -> Any: ...  # noqa: D102


# -- renderers -------------------------------------------------------------------------------------


def _auto_render(observation: Any, env: Any) -> str:
    if isinstance(observation, str):
        return observation
    if getattr(env, "render_mode", None) == "ansi":
        return str(env.render())
    return f"Observation: {observation!r}"


def _grid(rows: list[str], position: int) -> str:
    width = len(rows[0])
    r, c = divmod(int(position), width)
    cells = [list(row) for row in rows]
    cells[r][c] = "@"
    return "\n".join(" ".join(row) for row in cells)


_ROWS: weakref.WeakKeyDictionary[Any, list[str]] = weakref.WeakKeyDictionary()


def _desc_rows(env: Any) -> list[str]:
    """The env's map (its ``desc`` byte array) as strings, decoded once per env: it never changes."""
    rows = _ROWS.get(env)
    if rows is None:
        rows = _ROWS[env] = [b"".join(row).decode() for row in env.desc]
    return rows


def frozen_lake_text(observation: Any, env: Any) -> str:
    """FrozenLake: the map, one letter per cell (S start, F ice, H hole, G goal) and ``@`` for you.

    Example:
        >>> import gymnasium
        >>> print(frozen_lake_text(0, gymnasium.make("FrozenLake-v1").unwrapped))
        @ F F F
        F H F H
        F F F H
        H F F G
    """
    return _grid(_desc_rows(env), observation)


def cliff_walking_text(observation: Any, env: Any) -> str:
    """CliffWalking: the 4x12 grid, ``.`` ground, ``C`` cliff, ``G`` goal and ``@`` for you."""
    height, width = env.shape
    rows = []
    for r in range(height):
        row = ""
        for c in range(width):
            row += "C" if env._cliff[r][c] else ("G" if (r, c) == (height - 1, width - 1) else ".")
        rows.append(row)
    return _grid(rows, observation)


_TAXI_STOPS = ["R (red, top left)", "G (green, top right)", "Y (yellow, bottom left)", "B (blue, bottom right)"]


def taxi_text(observation: Any, env: Any) -> str:
    """Taxi: the 5x5 map (``|`` walls, R/G/Y/B stops, ``@`` the taxi), then where the passenger and destination are."""
    taxi_row, taxi_col, passenger, destination = env.decode(int(observation))
    rows = list(_desc_rows(env))
    line = list(rows[1 + taxi_row])
    line[1 + 2 * taxi_col] = "@"
    rows[1 + taxi_row] = "".join(line)
    where = "in the taxi" if passenger == 4 else f"waiting at {_TAXI_STOPS[passenger]}"
    return "\n".join(rows) + f"\nThe passenger is {where}; the destination is {_TAXI_STOPS[destination]}."


def blackjack_text(observation: Any, env: Any) -> str:
    """Blackjack: your total, whether you hold a usable ace, and the dealer's face-up card.

    Example:
        >>> blackjack_text((14, 10, 0), None)
        'Your hand totals 14 (no usable ace). The dealer shows 10.'
    """
    total, dealer, ace = (int(x) for x in observation)
    card = "an ace" if dealer == 1 else str(dealer)
    return f"Your hand totals {total} ({'with a usable ace' if ace else 'no usable ace'}). The dealer shows {card}."


RENDERERS: dict[str, Renderer] = {
    "auto": _auto_render,
    "frozen_lake": frozen_lake_text,
    "cliff_walking": cliff_walking_text,
    "taxi": taxi_text,
    "blackjack": blackjack_text,
}
"""Built-in renderers, by the name a manifest's ``render`` kwarg uses."""


# -- parsers ---------------------------------------------------------------------------------------


def choice_parser(names: list[str]) -> ActionParser:
    """A parser for a ``Discrete(len(names))`` space: the last ``[name]`` (or bare name) in the text.

    Matching ignores case; ``names[i]`` is action ``i``. Text naming no action raises `ValueError`
    with the accepted moves.

    Example:
        >>> parse = choice_parser(["left", "right"])
        >>> parse("I will go [Right]", None)
        1
    """
    lowered = [n.lower() for n in names]
    pattern = re.compile(r"\b(" + "|".join(re.escape(n) for n in lowered) + r")\b")

    def parse(text: str, env: Any) -> int:
        bracketed = [m.strip().lower() for m in re.findall(r"\[([^\[\]]*)\]", text)]
        for token in reversed(bracketed):
            if token in lowered:
                return lowered.index(token)
        words = pattern.findall(text.lower())
        if words:
            return lowered.index(words[-1])
        accepted = ", ".join(f"[{n}]" for n in names)
        raise ValueError(f"I could not find a move in your reply. Answer with one of {accepted}.")

    return parse


def _auto_parse(text: str, env: Any) -> Any:
    import gymnasium

    space = env.action_space
    if isinstance(space, gymnasium.spaces.Text):
        return text
    if isinstance(space, gymnasium.spaces.Discrete):
        numbers = re.findall(r"-?\d+", text)
        if not numbers:
            raise ValueError(f"Answer with an action number from {space.start} to {space.start + space.n - 1}.")
        action = int(numbers[-1])
        if not space.contains(action):
            raise ValueError(f"{action} is not an action; use a number from {space.start} to {space.start + space.n - 1}.")
        return action
    raise ValueError(f"no default parser for a {type(space).__name__} action space; pass parse_action=...")


PARSERS: dict[str, ActionParser] = {
    "auto": _auto_parse,
    "frozen_lake": choice_parser(["left", "down", "right", "up"]),
    "cliff_walking": choice_parser(["up", "right", "down", "left"]),
    "taxi": choice_parser(["south", "north", "east", "west", "pickup", "dropoff"]),
    "blackjack": choice_parser(["stick", "hit"]),
}
"""Built-in parsers, by the name a manifest's ``parse_action`` kwarg uses."""

_INSTRUCTIONS = {
    "frozen_lake": (
        "You are on a frozen lake (map below, '@' is you). Reach G without stepping into a hole H; the ice may be "
        "slippery, so a move can slide you sideways. Each turn answer with one move: [left], [down], [right] or [up]."
    ),
    "cliff_walking": (
        "Walk from the bottom left to G (map below, '@' is you) without stepping onto the cliff C, which sends you "
        "back to the start at a cost of 100. Each step costs 1. Answer with one move: [up], [right], [down] or [left]."
    ),
    "taxi": (
        "You drive the taxi '@' on the map below (walls '|' block east-west moves). Pick up the passenger and drop "
        "them at the destination. Each step costs 1, a delivery earns 20, a wrong pickup or dropoff costs 10. Answer "
        "with one action: [south], [north], [east], [west], [pickup] or [dropoff]."
    ),
    "blackjack": (
        "You are playing blackjack against the dealer: get closer to 21 than the dealer without going over. Win 1, "
        "draw 0, lose -1. Answer [hit] to take a card or [stick] to stop."
    ),
}


# -- the env ---------------------------------------------------------------------------------------


class GymTextConfig(EnvConfig):
    """Config of a Gymnasium env played in text."""

    gym_id: str = Field(description="Gymnasium env id, e.g. 'FrozenLake-v1'.")
    gym_kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for gymnasium.make.")
    render: str = Field(
        default="auto", description="Renderer: a name in RENDERERS or 'module:attr' of a (observation, env) -> str."
    )
    parse_action: str = Field(
        default="auto", description="Parser: a name in PARSERS or 'module:attr' of a (text, env) -> action."
    )
    instructions: str | None = Field(
        default=None, description="Text before the first observation; None uses the built-in text for the renderer."
    )
    invalid_action_reward: float = Field(default=0.0, description="Reward of a turn whose text is no valid action.")
    max_invalid: int = Field(default=3, ge=1, description="Truncate after this many invalid turns in a row.")
    max_turns: int | None = Field(default=None, ge=1, description="Truncate after this many turns (None: Gymnasium's).")


def _resolve(value: str | Callable[..., Any], table: dict[str, Any], what: str) -> Any:
    if callable(value):
        return value
    if value in table:
        return table[value]
    if ":" in value:
        return load_entry_point(value)
    raise ConfigError(f"Unknown {what} {value!r}: use one of {sorted(table)} or a 'module:attr' path.")


class GymTextEnv(Env):
    """A Gymnasium env played in text; see the module docstring for the mapping.

    Args:
        **kwargs: `GymTextConfig` fields; ``render`` and ``parse_action`` may also be callables.
    """

    oracle = None  # no generic oracle: the best action depends on the Gymnasium env

    def __init__(self, **kwargs: Any) -> None:
        """Validate the config; Gymnasium makes the env at the first reset."""
        render, parse = kwargs.get("render", "auto"), kwargs.get("parse_action", "auto")
        plain = {k: v for k, v in kwargs.items() if k not in ("render", "parse_action")}
        plain["render"] = render if isinstance(render, str) else getattr(render, "__name__", "custom")
        plain["parse_action"] = parse if isinstance(parse, str) else getattr(parse, "__name__", "custom")
        self.config = build_config(GymTextConfig, plain, f"Gymnasium env {kwargs.get('gym_id', '?')!r}")
        self._render: Renderer = _resolve(render, RENDERERS, "renderer")
        self._parse: ActionParser = _resolve(parse, PARSERS, "action parser")
        self.max_turns = self.config.max_turns
        self._gym: Any = None
        self._invalid = 0

    @property
    def gym_env(self) -> Any:
        """The Gymnasium env (made on first use, then reused across episodes)."""
        if self._gym is None:
            import gymnasium

            try:
                self._gym = gymnasium.make(self.config.gym_id, **self.config.gym_kwargs)
            except gymnasium.error.Error as exc:
                raise ConfigError(f"Gymnasium cannot make {self.config.gym_id!r}: {exc}") from None
        return self._gym

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Observation, dict[str, Any]]:
        """Reset the Gymnasium env with this seed and show the instructions and the first observation."""
        super().reset(seed=seed)
        self._invalid = 0
        observation, info = self.gym_env.reset(seed=seed, options=options)
        instructions = self.config.instructions
        if instructions is None:
            instructions = _INSTRUCTIONS.get(self.config.render, "")
        text = self._render(observation, self.gym_env.unwrapped)
        messages = []
        if self.config.system_prompt:
            messages.append(Message(role="system", content=self.config.system_prompt))
        messages.append(Message(role="user", content=f"{instructions}\n\n{text}" if instructions else text))
        return Observation(messages=messages), {**_plain(info), "source": self._source(seed)}

    def step(self, action: Action) -> StepResult:
        """Parse the text into an action and step Gymnasium; unreadable text becomes feedback."""
        try:
            parsed = self._parse(action_text(action), self.gym_env.unwrapped)
        except ValueError as exc:
            self._invalid += 1
            truncated = self._invalid >= self.config.max_invalid
            info = {"correct": False if truncated else None, "source": self._source(self.seed), "invalid_action": str(exc)}
            if truncated:
                info["truncated_by"] = "invalid_actions"
            feedback = user_observation(f"Invalid action: {exc}")
            return StepResult(feedback, self.config.invalid_action_reward, False, truncated, info)
        self._invalid = 0
        observation, reward, terminated, truncated, info = self.gym_env.step(parsed)
        text = self._render(observation, self.gym_env.unwrapped)
        out = {**_plain(info), "correct": None, "source": self._source(self.seed), "action": _plain_value(parsed)}
        return StepResult(user_observation(text), float(reward), bool(terminated), bool(truncated), out)

    def close(self) -> None:
        """Close the Gymnasium env."""
        if self._gym is not None:
            self._gym.close()
            self._gym = None

    def _source(self, seed: int | None) -> dict[str, Any]:
        return {"env_id": self.spec.id if self.spec else self.config.gym_id, "index": seed, "difficulty": None}


def from_gym(
    gym_id: str,
    *,
    render: str | Renderer = "auto",
    parse_action: str | ActionParser = "auto",
    instructions: str | None = None,
    **kwargs: Any,
) -> GymTextEnv:
    """Play the Gymnasium env `gym_id` in text, as an openenvs multi-turn env.

    Args:
        gym_id: A registered Gymnasium id, e.g. ``"FrozenLake-v1"``.
        render: ``(observation, env) -> str`` or a name in `RENDERERS`.
        parse_action: ``(text, env) -> action`` raising `ValueError` for unreadable text, or a
            name in `PARSERS`.
        instructions: Text shown before the first observation (default: the renderer's own).
        **kwargs: Other `GymTextConfig` fields (``gym_kwargs``, ``max_invalid``, ``max_turns``...).

    Example:
        >>> env = from_gym("Blackjack-v1", render="blackjack", parse_action="blackjack")
        >>> env.step("[stick]") if env.reset(seed=0) else None  # doctest: +ELLIPSIS
        StepResult(...)
    """
    env = GymTextEnv(gym_id=gym_id, render=render, parse_action=parse_action, instructions=instructions, **kwargs)
    if isinstance(render, str) and isinstance(parse_action, str):  # a manifest, so check_env(env) can rebuild it
        match = re.fullmatch(r"(?:(?P<ns>[^/]+)/)?(?P<name>.+?)(?:-v(?P<version>\d+))?", gym_id)
        assert match is not None  # the pattern matches any string
        slug = re.sub(r"[^a-z0-9]+", "-", f"{match['ns'] or ''} {match['name']}".lower()).strip("-")
        env.spec = EnvSpec(
            id=f"gymnasium/{slug}-v{match['version'] or 0}",
            entry_point="openenvs.bridges.gymnasium:GymTextEnv",
            description=f"Gymnasium's {gym_id} in text (made with from_gym).",
            license="NOASSERTION",
            kind="multi-turn",
            reward_range=(float("-inf"), float("inf")),
            packages=["gymnasium"],
            kwargs=env.config.model_dump(exclude_defaults=True),
        )
    return env


# -- the registry provider -------------------------------------------------------------------------

# openenvs name -> (Gymnasium id, preset, reward range, extra kwargs, fixed opening)
_TOY_TEXT: dict[str, tuple[str, str, tuple[float, float], dict[str, Any], bool]] = {
    "frozen-lake-v1": ("FrozenLake-v1", "frozen_lake", (0.0, 1.0), {}, True),
    "frozen-lake-8x8-v1": ("FrozenLake8x8-v1", "frozen_lake", (0.0, 1.0), {}, True),
    "cliff-walking-v1": ("CliffWalking-v1", "cliff_walking", (-100.0, -1.0), {"invalid_action_reward": -1.0}, True),
    "cliff-walking-slippery-v1": (
        "CliffWalkingSlippery-v1", "cliff_walking", (-100.0, -1.0), {"invalid_action_reward": -1.0}, True,
    ),
    "taxi-v4": ("Taxi-v4", "taxi", (-10.0, 20.0), {}, False),
    "blackjack-v1": ("Blackjack-v1", "blackjack", (-1.0, 1.0), {}, False),
}


def specs() -> list[EnvSpec]:
    """Manifests of Gymnasium's toy-text envs played in text (the ``gymnasium`` provider)."""
    version = package_version("gymnasium")
    out = []
    for name, (gym_id, preset, reward_range, extra, fixed) in _TOY_TEXT.items():
        tags = ["gymnasium", "toy-text", "game"] + (["fixed-opening"] if fixed else [])
        out.append(
            EnvSpec(
                id=f"gymnasium/{name}",
                entry_point="openenvs.bridges.gymnasium:GymTextEnv",
                description=(
                    f"Gymnasium's {gym_id} (version {version}) in text: {_INSTRUCTIONS[preset].split('.')[0]}. "
                    "Rewards are Gymnasium's own."
                ),
                license="MIT",
                kind="multi-turn",
                tags=tags,
                reward_range=reward_range,
                sources=[Source(kind="upstream", title=f"Gymnasium {version}", url=UPSTREAM_URL, license="MIT")],
                verifier=VerifierInfo(name=f"gymnasium:{gym_id}", version=version),
                packages=["gymnasium"],
                kwargs={"gym_id": gym_id, "render": preset, "parse_action": preset, **extra},
            )
        )
    return out


def _plain_value(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain_value(v) for k, v in value.items()}
    return repr(value)


def _plain(info: Any) -> dict[str, Any]:
    """Gymnasium's info as plain JSON values (NumPy arrays become lists)."""
    return {str(k): _plain_value(v) for k, v in info.items()} if isinstance(info, dict) else {}
