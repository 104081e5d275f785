r"""GEM's language games as openenvs multi-turn envs (``gem/<game>-<variant>-v0``).

    >>> import openenvs                                              # in .venv-gem, or via use_remote
    >>> env = openenvs.make("gem/guess-the-number-easy-v0")          # doctest: +SKIP
    >>> obs, info = env.reset(seed=0)                                # doctest: +SKIP
    >>> env.step(r"\boxed{5}").reward                              # doctest: +SKIP
    0.0

GEM (PyPI ``gem-llm`` 0.1) pins reasoning-gym 0.1.23 while ours resolves a newer one, so it lives
in a venv of its own (``.venv-gem``, built by scripts/setup.d/62-gem.sh). This module runs where
GEM imports: in that venv directly, and from the main venv across the process boundary of
``openenvs serve`` / ``openenvs.connect`` (``openenvs.server.use_remote``). Where GEM is not
installed, `specs` lists nothing.

How GEM maps (its ``gem.Env``: ``reset(seed) -> (str, info)``, ``step(str) -> (str, reward,
terminated, truncated, info)``, a Gymnasium shape with text on both sides):

- **Episode.** ``reset(seed=s)`` makes the game with ``gem.make(<GEM id>)`` and calls its
  ``reset(seed=s)``; each ``step`` passes the model's text to GEM's ``step`` unchanged (GEM parses
  the ``\boxed{...}`` move itself, and a reply it cannot parse is GEM's format error).
- **Observations.** GEM's observation string is the user message, as is; GEM's ``info`` (its
  ``suffix``: the "enter your next move" line its observation wrappers may append) is passed on.
- **Rewards / end.** GEM's per-step reward (dense: e.g. the share of Mastermind pegs right; -0.1
  for a format error), ``terminated`` and ``truncated``, unscaled. ``info["correct"]`` is True when
  an episode ends with GEM's success reward (1.0).
- **Randomness.** GEM seeds and draws from the process-global `random` (``gem.utils.seeding``).
  The ``random`` name inside GEM's modules is routed to the calling episode's own
  ``random.Random`` (`openenvs.bridges._rng`), so episodes stay deterministic when many run at
  once in the threads of a server worker or the Runner, and the global state is untouched.
  GEM's ``set_seed`` also seeds NumPy's global generator, which no registered game draws from;
  inside a bridged call that NumPy seeding is skipped.

Left out, with the reason, in `EXCLUDED`; any other GEM id can still be played with
``GemEnv(game="<GEM id>")``.
"""

from __future__ import annotations

import importlib
import importlib.util
import random
import re
from typing import Any

from pydantic import Field

from .._env import Env, action_text
from .._errors import MissingDependency
from .._shapes import EnvConfig, build_config
from .._spec import EnvSpec, Source, VerifierInfo, package_version
from .._types import Action, Message, Observation, StepResult
from . import _rng
from ._chat import user_observation

__all__ = ["CHANCE", "EXCLUDED", "GAMES", "GemConfig", "GemEnv", "env_id", "specs"]

UPSTREAM_URL = "https://github.com/axon-rl/gem"
SUCCESS_REWARD = 1.0  # GEM's LanguageGameReward.success_reward

CHANCE: dict[str, float] = {
    "gem/2048-easy-v0": 0.21,
    "gem/2048-extreme-hard-v0": 0.11,
    "gem/2048-hard-v0": 0.13,
    "gem/2048-random-v0": 0.31,
    "gem/guess-the-number-easy-v0": 0.72,
    "gem/guess-the-number-hard-v0": 0.64,
    "gem/guess-the-number-random-v0": 0.67,
    "gem/mastermind-easy-v0": 0.21,
    "gem/mastermind-hard-v0": 0.15,
    "gem/mastermind-random-v0": 0.24,
    "gem/tower-of-hanoi-easy-v0": 0.34,
    "gem/tower-of-hanoi-hard-v0": 0.2,
    "gem/tower-of-hanoi-random-v0": 0.27,
}
"""Measured chance baselines (`EnvSpec.chance_reward`, keyed by openenvs id): the best mean episode
reward of the reward-hack probes of `openenvs.testing` over seeds 0-31. GEM's rewards are dense (a
share of Mastermind pegs, closeness in GuessTheNumber, moves of a Hanoi tower made by any legal
move), so play that knows nothing about the game earns this much; the other games earn nothing."""

GAMES: dict[str, str] = {
    "game:GuessTheNumber-v0-easy": "Guess a number in 1-10 from higher/lower hints (4 turns)",
    "game:GuessTheNumber-v0-hard": "Guess a number in 1-50 from higher/lower hints (7 turns)",
    "game:GuessTheNumber-v0-random": "Guess a number in a seeded random range from higher/lower hints",
    "game:Mastermind-v0-easy": "Find a 2-digit code (digits 1-6) from peg feedback",
    "game:Mastermind-v0-hard": "Find a 4-digit code (digits 1-8) from peg feedback",
    "game:Mastermind-v0-random": "Find a code of seeded random length from peg feedback",
    "game:Minesweeper-v0-easy": "Clear a 5x5 Minesweeper board with 5 mines",
    "game:Minesweeper-v0-hard": "Clear an 8x8 Minesweeper board with 12 mines",
    "game:Minesweeper-v0-random": "Clear a Minesweeper board of seeded random size",
    "game:FifteenPuzzle-v0-easy": "Slide the tiles of a 2x2 sliding puzzle into order",
    "game:FifteenPuzzle-v0-hard": "Slide the tiles of the 4x4 15-puzzle into order",
    "game:Sudoku-v0-easy": "Fill a 4x4 Sudoku",
    "game:TowerofHanoi-v0-easy": "Move 3 disks between towers (Tower of Hanoi)",
    "game:TowerofHanoi-v0-hard": "Move 5 disks between towers (Tower of Hanoi)",
    "game:TowerofHanoi-v0-random": "Tower of Hanoi with a seeded random number of disks",
    "game:Game2048-v0-easy": "Slide tiles to reach the 64 tile (2048)",
    "game:Game2048-v0-hard": "Slide tiles to reach the 512 tile (2048)",
    "game:Game2048-v0-extreme-hard": "Slide tiles to reach the 2048 tile (2048)",
    "game:Game2048-v0-random": "Slide tiles to reach a seeded random target tile (2048)",
    "game:Sokoban-v0-easy": "Push the boxes onto their targets (Sokoban, small room)",
}
"""The registered GEM games (GEM 0.1.0 ids) and what each is; all make, reset and step offline."""

EXCLUDED: dict[str, str] = {
    "game:Wordle-v0-*": "calls nltk.download('words') at construction (network); never triggered",
    "game:Hangman-v0-*": "calls nltk.download('words') at construction (network); never triggered",
    "game:WordSearch-v0-*": "needs nltk's `words` corpus, which is downloaded at run time",
    "game:Crosswords-v0-*": "imports pandas, which gem-llm 0.1.0 does not declare (not installed in .venv-gem)",
    "game:FifteenPuzzle-v0-random": "upstream bug: its constructor computes None ** 2 (TypeError)",
    "game:Sokoban-v0-hard": "slow reset: about 8 s of room generation on the 2-core machine",
    "game:Sokoban-v0-random": "slow resets: up to 30 s of room generation for its larger rooms",
    "game:Sudoku-v0-hard / -random": "slow resets: 1-3 s of 9x9 puzzle generation per episode",
    "math:* / code:* / qa:* / eval:* / logic:*": "download Hugging Face datasets at run time",
    "rg:*": "reasoning-gym 0.1.23's datasets; openenvs registers a newer reasoning-gym itself (rg/*)",
}
"""GEM ids not registered here, with the reason."""

_FIXED_OPENING = {
    "game:FifteenPuzzle-v0-easy",
    "game:FifteenPuzzle-v0-hard",
    "game:Sudoku-v0-easy",
    "game:TowerofHanoi-v0-easy",
    "game:TowerofHanoi-v0-hard",
}
"""Ids whose instructions are the same for every seed (the seeded board shows after the first move)."""


def env_id(gem_id: str) -> str:
    """The openenvs id of a GEM game id: ``game:GuessTheNumber-v0-easy`` -> ``gem/guess-the-number-easy-v0``.

    Example:
        >>> env_id("game:TowerofHanoi-v0-random")
        'gem/tower-of-hanoi-random-v0'
    """
    match = re.fullmatch(r"game:(?P<game>[A-Za-z0-9]+)-v(?P<version>\d+)(?:-(?P<variant>[A-Za-z0-9-]+))?", gem_id)
    if match is None:
        raise ValueError(f"{gem_id!r} is not a GEM game id like 'game:Sudoku-v0-easy'")
    game = match["game"].replace("Towerof", "TowerOf").replace("Game2048", "2048")
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", game).lower()
    variant = f"-{match['variant'].lower()}" if match["variant"] else ""
    return f"gem/{name}{variant}-v{match['version']}"


def specs() -> list[EnvSpec]:
    """Manifests of the games in `GAMES` (the ``gem`` provider); none where GEM is not installed. Imports no GEM."""
    if importlib.util.find_spec("gem") is None or (version := package_version("gem-llm")) is None:
        return []
    out = []
    for gem_id, what in GAMES.items():
        tags = ["gem", "game", "single-player"] + (["fixed-opening"] if gem_id in _FIXED_OPENING else [])
        out.append(
            EnvSpec(
                id=env_id(gem_id),
                entry_point="openenvs.bridges.gem:GemEnv",
                description=f"{what}. GEM `{gem_id}` (gem-llm {version}); GEM's own per-step rewards.",
                license="Apache-2.0",
                kind="multi-turn",
                tags=tags,
                reward_range=(-1.0, 1.0),
                chance_reward=CHANCE.get(env_id(gem_id), 0.0),
                sources=[Source(kind="upstream", title=f"GEM {version}", url=UPSTREAM_URL, license="Apache-2.0")],
                verifier=VerifierInfo(name=f"gem:{gem_id}", version=version),
                packages=["gem-llm"],
                kwargs={"game": gem_id},
            )
        )
    return out


class GemConfig(EnvConfig):
    """Config of a bridged GEM game."""

    game: str = Field(description="GEM id, e.g. 'game:Sudoku-v0-easy'.")
    gem_kwargs: dict[str, Any] = Field(default_factory=dict, description="Extra keyword arguments for gem.make.")
    max_turns: int | None = Field(default=None, ge=1, description="Truncate after this many turns (GEM has its own).")


def _gem() -> Any:
    try:
        module = importlib.import_module("gem")
    except ImportError as exc:
        raise MissingDependency(
            "gem-llm", "gem", purpose="the gem/* environments (they run in .venv-gem: scripts/setup.d/62-gem.sh)"
        ) from exc
    seeding: Any = importlib.import_module("gem.utils.seeding")
    if not getattr(seeding.set_seed, "_openenvs_routed", False):
        seeding.set_seed = _routed_set_seed(seeding.set_seed)
    _rng.route_modules("gem")
    return module


def _routed_set_seed(native: Any) -> Any:
    def set_seed(seed: int | None = None) -> None:
        rng = _rng.current()
        if rng is None:  # not in a bridged call: GEM's own behaviour
            native(seed)
        else:
            rng.seed(seed)

    set_seed._openenvs_routed = True  # type: ignore[attr-defined]
    return set_seed


class GemEnv(Env):
    """A GEM game driven in-process; see the module docstring for the mapping."""

    oracle = None  # GEM games carry no gold action

    def __init__(self, **kwargs: Any) -> None:
        """Validate the config; the GEM env is made at the first reset."""
        self.config = build_config(GemConfig, kwargs, f"GEM game {kwargs.get('game', '?')!r}")
        self.max_turns = self.config.max_turns
        self._env: Any = None
        self._rng = random.Random()

    @property
    def gem_env(self) -> Any:
        """The wrapped ``gem.Env`` (made on first use)."""
        if self._env is None:
            gem = _gem()
            spec = importlib.import_module("gem.envs.registration").ENV_REGISTRY.get(self.config.game)
            if spec is not None and isinstance(spec.entry_point, str):  # import the game first, so it is routed
                importlib.import_module(spec.entry_point.split(":")[0])
                _rng.route_modules("gem")
            with _rng.episode_rng(self._rng):
                self._env = gem.make(self.config.game, **self.config.gem_kwargs)
        return self._env

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Reset the GEM game with this seed; its instructions are the user message."""
        super().reset(seed=seed)
        env = self.gem_env
        with _rng.episode_rng(self._rng):
            text, info = env.reset(seed=seed)
        messages = [Message(role="system", content=self.config.system_prompt)] if self.config.system_prompt else []
        messages.append(Message(role="user", content=text))
        return Observation(messages=messages), {**info, "source": self._source()}

    def step(self, action: Action) -> StepResult:
        """Pass the text to GEM's step; its observation, reward and end flags come back unchanged."""
        with _rng.episode_rng(self._rng):
            text, reward, terminated, truncated, info = self.gem_env.step(action_text(action))
        reward = float(reward)
        done = bool(terminated or truncated)
        info = {**info, "correct": reward >= SUCCESS_REWARD if done else None, "source": self._source()}
        return StepResult(user_observation(text), reward, bool(terminated), bool(truncated), info)

    def close(self) -> None:
        """Drop the GEM env."""
        self._env = None

    def _source(self) -> dict[str, Any]:
        return {"env_id": self.spec.id if self.spec else self.config.game, "index": self.seed, "difficulty": None}
