"""TextArena's text games as openenvs multi-turn envs (``textarena/<game>-v0``).

    >>> import openenvs
    >>> env = openenvs.make("textarena/sudoku-easy-v0")
    >>> obs, info = env.reset(seed=0)                               # the puzzle and its rules
    >>> obs, reward, terminated, truncated, info = env.step("[1 1 5]")

How TextArena maps:

- **Episode.** ``reset(seed=s)`` makes the TextArena env by its id (default wrappers included, so
  the action side is exactly TextArena's: e.g. ``ActionFormattingWrapper`` adds the brackets a
  move lacks) and calls its ``reset(num_players, seed=s)``. Each ``step`` passes the model's text
  to TextArena's ``step``; in a two-player game the opponent then moves until it is the model's
  turn again.
- **Observations.** The messages TextArena addresses to the model's seat since its last turn
  become one user message, one ``[Sender] text`` line each, as TextArena's own
  ``LLMObservationWrapper`` writes them: the user messages of an episode, each preceded by a
  newline and joined, are that wrapper's observation string (the parity tests check this).
- **Rewards.** 0 until the game ends, then TextArena's reward for the model's seat (single-player
  games: 1 for a solve, else the share completed; two-player: 1 win, 0 draw, -1 loss), so the
  manifests declare the range (-1, 1). ``info["correct"]`` is True for a reward of 1.
- **Opponents** (two-player games): ``opponent="random"`` plays a move drawn uniformly, with a
  seeded RNG, from the bracketed moves (``[...]``) its latest observation lists; or pass any
  openenvs rollout `Policy` (``opponent=policy``, or ``"module:attr"`` naming one) and it answers
  from its own chat history, so the learner itself can be the opponent (self-play).
- **Randomness.** TextArena draws from the process-global `random` module (seeded in
  ``reset``). The bridge replaces the ``random`` name inside TextArena's modules by a router
  that sends each call to the calling episode's own ``random.Random`` (a context variable says
  which), and to the global module outside a bridged call. Episodes stay deterministic when many
  run at once in threads, and no global state is touched. TextArena's ``print`` calls are routed
  to this module's logger (DEBUG) the same way.

Games left out of the registry, with the reason, are in `EXCLUDED`; any other TextArena id can
still be played with ``TextArenaEnv(game="<TextArena id>", num_players=...)``.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import contextvars
import importlib
import logging
import random
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from .._env import Env, action_text
from .._errors import ConfigError, MissingDependency
from .._shapes import EnvConfig, build_config
from .._spec import EnvSpec, Source, VerifierInfo, package_version
from .._types import Action, Message, Observation, StepResult
from ._chat import user_observation

if TYPE_CHECKING:
    from ..rollout import Policy

__all__ = [
    "CHANCE",
    "EXCLUDED",
    "GAMES",
    "TextArenaConfig",
    "TextArenaEnv",
    "env_id",
    "render_messages",
    "specs",
]

logger = logging.getLogger(__name__)

UPSTREAM_URL = "https://github.com/LeonGuertler/TextArena"

# TextArena id -> (players, the opening is the same for every seed). Measured with textarena 0.7.4:
# each makes, resets and steps offline, in well under 0.2 s per reset.
GAMES: dict[str, tuple[int, bool]] = {
    **{f"2048-v0{v}": (1, False) for v in ("", "-ultra-easy", "-mega-easy", "-super-easy", "-very-easy", "-easy", "-3x3")},
    "Bandit-v0": (1, True),
    "Bandit-v0-hard": (1, True),
    "Blackjack-v0": (1, False),
    "Blackjack-v0-long": (1, False),
    "Crosswords-v0": (1, False),
    "FifteenPuzzle-v0": (1, False),
    "FrozenLake-v0": (1, False),
    "FrozenLake-v0-random": (1, False),
    "FrozenLake-v0-hardcore": (1, False),
    "GuessTheNumber-v0": (1, True),
    "GuessTheNumber-v0-hardcore": (1, True),
    "LightsOut-v0": (1, False),
    "LogicPuzzle-v0": (1, False),
    "Mastermind-v0": (1, True),
    "Mastermind-v0-hard": (1, True),
    "Minesweeper-v0": (1, True),
    "Minesweeper-v0-small": (1, True),
    "PegJump-v0": (1, True),
    "RushHour-v0": (1, False),
    "Secretary-v0": (1, False),
    "Set-v0": (1, False),
    "Sokoban-v0": (1, False),
    "Sudoku-v0": (1, False),
    "Sudoku-v0-very-easy": (1, False),
    "Sudoku-v0-easy": (1, False),
    "Sudoku-v0-medium": (1, False),
    "TowerOfHanoi-v0": (1, True),
    "TowerOfHanoi-v0-medium": (1, True),
    # two-player games whose observations list the legal moves, so the random opponent plays them
    "TicTacToe-v0": (2, True),
    "WildTicTacToe-v0": (2, True),
    "KuhnPoker-v0": (2, False),
    "KuhnPoker-v0-short": (2, False),
    "Othello-v0-tiny": (2, True),
    "Othello-v0-small": (2, True),
    "SimpleTak-v0": (2, True),
    "Snake-v0": (2, False),
    "Surround-v0": (2, False),
    "IteratedRockPaperScissors-v0": (2, True),
    "IteratedMatchingPennies-v0": (2, True),
    "GameOfPureStrategy-v0": (2, False),
    "Crusade-v0": (2, True),
    "PigDice-v0-short": (2, True),
}
"""Every TextArena game registered as ``textarena/<game>-v0``: ``{textarena_id: (players, fixed_opening)}``."""

CHANCE: dict[str, float] = {
    "GuessTheNumber-v0": 0.74,  # a wrong or repeated guess ends the game with credit for closeness
    "GuessTheNumber-v0-hardcore": 0.66,
    "Mastermind-v0": 0.45,  # partial credit for pegs placed by an invalid or random code
    "Mastermind-v0-hard": 0.28,
    "RushHour-v0": 0.19,
    "FrozenLake-v0-random": 0.2,
    "IteratedRockPaperScissors-v0": 0.19,  # the built-in random opponent loses some rounds to any fixed move
    "2048-v0-ultra-easy": 0.17,  # random moves often reach the small target tile
    "2048-v0-mega-easy": 0.08,
    "PegJump-v0": 0.08,
}
"""Measured chance baselines (`EnvSpec.chance_reward`): the best mean reward of the reward-hack
probes of `openenvs.testing` over 32 seeds (play that knows nothing about the game), where above
0.04; the other games pay nothing above 0 to such play."""

EXCLUDED: dict[str, str] = {
    **dict.fromkeys(
        ["Hangman", "Wordle", "WordLadder", "WordSearch", "SpellingBee", "WordChains", "LetterAuction", "DontSayIt"],
        "calls nltk.download() for word lists at import or reset; tests never download, so it is left out",
    ),
    **dict.fromkeys(
        ["TwentyQuestions", "GuessWho", "Debate", "ScenarioPlanning"],
        "its referee or jury is an LLM reached through OpenRouter (network and an API key)",
    ),
    **dict.fromkeys(
        ["Checkers", "Chess", "ReverseTicTacToe", "UltimateTexasHoldem", "IteratedStagHunt", "Klondike"],
        "its module does not import on Python 3.11 (it uses 3.12 f-string syntax)",
    ),
    **dict.fromkeys(["ScorableGames", "UsedCarNegotiation", "UsedCar"], "its data files are missing from the 0.7.4 wheel"),
    "BabyAiText": "needs the retired `gym` package",
    **dict.fromkeys(
        ["Countdown", "Cryptarithm", "Slitherlink", "ThreeCardMonte"],
        "upstream bug in 0.7.4: an invalid move passes its reason string as the reward (set_invalid_move arguments swapped)",
    ),
    "TruthAndDeception": "the built-in random opponent cannot answer in the guess format, so any text from the model wins",
    "SimpleBlindAuction": "the random opponent's bids often lose to any text (an unparsable bid keeps the coins), so a reward says little",
    **dict.fromkeys(
        ["Codenames", "Taboo", "SecretMafia", "SettlersOfCatan", "CharacterConclave", "ThreePlayerTicTacToe",
         "ThreePlayerGOPS", "ThreePlayerIPD", "PublicGoodsGame", "MarketEntryGame"],
        "needs three or more players; the bridge seats the model and one opponent",
    ),
    "Sudoku-v0-hard": "reset takes 1-4 s (puzzle generation); use textarena/sudoku-medium-v0",
    "Sokoban-v0-medium": "reset takes about 5 s (room generation); use textarena/sokoban-v0",
    **dict.fromkeys(
        ["Alquerque", "Battleship", "Breakthrough", "Briscola", "Chopsticks", "ColonelBlotto", "ConnectFour",
         "GermanWhist", "Golf", "HighSociety", "IndianPoker", "IteratedTwoThirdsAverage", "IteratedUltimatumGame",
         "LiarsDice", "LinesOfAction", "MemoryGame", "NewRecruit", "Nim", "Poker", "QuantumTicTacToe",
         "SantoriniBaseFixed", "SimpleNegotiation", "SpiteAndMalice", "Stratego", "Tak", "TwoDollar",
         "UltimateTicTacToe", "IteratedPrisonersDilemma"],
        "two-player game whose observations do not list legal moves, so the built-in random opponent forfeits "
        "by invalid moves; play it with a policy opponent via TextArenaEnv(game=..., num_players=2, opponent=policy)",
    ),
}
"""TextArena games (or ids) not registered, with the reason."""

_ABOUT: dict[str, str] = {
    "2048": "Slide and merge tiles on a grid to reach the target tile",
    "Bandit": "Find the best of several buttons with hidden payout rates, then commit to it",
    "Blackjack": "Play hands of blackjack against the dealer",
    "Countdown": "Combine the given numbers with arithmetic to hit the target",
    "Crosswords": "Fill a small crossword from its clues",
    "Cryptarithm": "Assign digits to letters so the word sum holds",
    "FifteenPuzzle": "Slide tiles into order on a 4x4 board",
    "FrozenLake": "Walk across a frozen lake to the goal without falling into a hole",
    "GuessTheNumber": "Find the hidden number from higher/lower hints",
    "LightsOut": "Toggle lights (and their neighbours) until the grid is dark",
    "LogicPuzzle": "Solve a grid logic puzzle from its clues",
    "Mastermind": "Crack the hidden code from black/white peg feedback",
    "Minesweeper": "Reveal every safe cell without hitting a mine",
    "PegJump": "Jump pegs on a triangle board until one is left",
    "RushHour": "Slide cars until the red car can leave the grid",
    "Secretary": "Stop at the best of a sequence of candidates seen one at a time",
    "Set": "Find sets of three cards whose features are all equal or all different",
    "Slitherlink": "Draw a loop on a grid that matches the number clues",
    "Sokoban": "Push every box onto a target",
    "Sudoku": "Fill the Sudoku grid",
    "ThreeCardMonte": "Track the ball under the shuffled cups",
    "TowerOfHanoi": "Move the disk tower from A to C, never a larger disk on a smaller one",
    "TicTacToe": "Tic-tac-toe against an opponent",
    "WildTicTacToe": "Tic-tac-toe where each move may place X or O",
    "KuhnPoker": "Kuhn poker (three-card poker) over several rounds",
    "Othello": "Othello (Reversi) on a small board",
    "SimpleTak": "A simplified Tak: build a road across the board",
    "Snake": "Two snakes on a grid: eat apples, avoid crashing",
    "Surround": "Tron-style light cycles: the last to crash wins",
    "IteratedRockPaperScissors": "Rock-paper-scissors over several rounds",
    "IteratedMatchingPennies": "Matching pennies over several rounds",
    "GameOfPureStrategy": "Bid cards for prizes (Goofspiel)",
    "SimpleBlindAuction": "Bid on items in a sealed-bid auction",
    "Crusade": "A chess-like board game of capturing pieces",
    "PigDice": "Roll or hold in the dice game Pig",
    "TruthAndDeception": "One player tells facts, the other tells which is a lie",
}

_MOVE_RE = re.compile(r"\[[^\[\]\n]{1,40}\]")
_GAME_ID = -1  # TextArena's sender id for game messages


def env_id(textarena_id: str) -> str:
    """The openenvs id of a TextArena id: ``Sudoku-v0-very-easy`` -> ``textarena/sudoku-very-easy-v0``.

    Example:
        >>> env_id("TowerOfHanoi-v0-medium")
        'textarena/tower-of-hanoi-medium-v0'
    """
    match = re.fullmatch(r"(?P<game>[A-Za-z0-9]+)-v(?P<version>\d+)(?:-(?P<variant>[A-Za-z0-9-]+))?", textarena_id)
    if match is None:
        raise ValueError(f"{textarena_id!r} is not a TextArena id like 'Sudoku-v0' or 'Sudoku-v0-easy'")
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", match["game"]).lower()
    variant = f"-{match['variant'].lower()}" if match["variant"] else ""
    return f"textarena/{name}{variant}-v{match['version']}"


def specs() -> list[EnvSpec]:
    """Manifests of every game in `GAMES` (the ``textarena`` provider); imports no TextArena.

    Returns no manifests when TextArena is not installed, so listing never fails.
    """
    version = package_version("textarena")
    if version is None:
        logger.info("textarena is not installed; no textarena/* environments (pip install 'openenvs[textarena]')")
        return []
    out = []
    for ta_id, (players, fixed) in GAMES.items():
        game = ta_id.split("-v")[0]
        what = _ABOUT.get(game, f"TextArena's {game}")
        if players == 2:
            what += "; the opponent is a config field (built-in random player, or any rollout policy for self-play)"
        tags = ["textarena", "game", "single-player" if players == 1 else "two-player"]
        if fixed:
            tags.append("fixed-opening")
        out.append(
            EnvSpec(
                id=env_id(ta_id),
                entry_point="openenvs.bridges.textarena:TextArenaEnv",
                description=f"{what}. TextArena `{ta_id}` (version {version}); reward is TextArena's at game end.",
                license="MIT",
                kind="multi-turn",
                tags=tags,
                reward_range=(-1.0, 1.0),
                chance_reward=CHANCE.get(ta_id, 0.0),
                sources=[Source(kind="upstream", title=f"TextArena {version}", url=UPSTREAM_URL, license="MIT")],
                verifier=VerifierInfo(name=f"textarena:{ta_id}", version=version),
                extras=["textarena"],
                packages=["textarena"],
                kwargs={"game": ta_id, "num_players": players},
            )
        )
    return out


# -- randomness and printing, routed per episode -------------------------------------------------

_CURRENT: contextvars.ContextVar[random.Random | None] = contextvars.ContextVar("openenvs_textarena_rng", default=None)


class _RoutedRandom:
    """Stands in for the `random` module inside TextArena's modules.

    Inside a bridged call the RNG functions (``seed``, ``choice``, ``shuffle``...) are the calling
    episode's own ``random.Random`` methods; outside one, and for every other name (``Random``...),
    it is the `random` module itself, so native TextArena use is unchanged.
    """

    def __getattr__(self, name: str) -> Any:
        rng = _CURRENT.get()
        if rng is not None and not name.startswith("_") and name[0].islower() and hasattr(rng, name):
            return getattr(rng, name)
        return getattr(random, name)


_ROUTER = _RoutedRandom()


def _routed_print(*args: Any, **kwargs: Any) -> None:
    if _CURRENT.get() is None:
        builtins.print(*args, **kwargs)
    else:
        logger.debug("textarena: %s", kwargs.get("sep", " ").join(map(str, args)))


_patch_lock = threading.Lock()
_patched: set[str] = set()
_modules_seen = 0


def _route_textarena_modules() -> None:
    """Point the `random` and `print` names of every loaded TextArena module at the routers."""
    global _modules_seen
    if len(sys.modules) == _modules_seen:
        return
    with _patch_lock:
        for name, module in list(sys.modules.items()):
            if name in _patched or module is None or not (name == "textarena" or name.startswith("textarena.")):
                continue
            namespace = vars(module)
            if namespace.get("random") is random:
                module.random = _ROUTER  # type: ignore[attr-defined]
            namespace.setdefault("print", _routed_print)
            _patched.add(name)
        _modules_seen = len(sys.modules)


@contextlib.contextmanager
def _episode_rng(rng: random.Random) -> Iterator[None]:
    token = _CURRENT.set(rng)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def _textarena() -> Any:
    try:
        module = importlib.import_module("textarena")
    except ImportError as exc:
        raise MissingDependency("textarena", "textarena", purpose="the textarena/* environments") from exc
    _route_textarena_modules()
    return module


def render_messages(items: Sequence[tuple[int, str, Any]], role_mapping: dict[int, str]) -> str:
    r"""Render TextArena observation items ``(sender_id, text, type)`` as ``[Sender] text`` lines.

    The names are those of TextArena's ``LLMObservationWrapper``: ``GAME`` for the game, else
    the state's role mapping.

    Example:
        >>> render_messages([(-1, "Board", None), (0, "[4]", None)], {0: "Player 0"})
        '[GAME] Board\n[Player 0] [4]'
    """
    lines = []
    for sender, text, _kind in items:
        name = "GAME" if sender == _GAME_ID else role_mapping.get(sender, f"Player {sender}")
        lines.append(f"[{name}] {text}")
    return "\n".join(lines)


# -- the env ---------------------------------------------------------------------------------------


class TextArenaConfig(EnvConfig):
    """Config of a bridged TextArena game."""

    game: str = Field(description="TextArena env id, e.g. 'Sudoku-v0-easy' (see textarena.envs.registration).")
    num_players: Literal[1, 2] = Field(default=1, description="Players the game is reset with: 1 (puzzles) or 2.")
    player: Literal[0, 1] = Field(default=0, description="Two-player games: the seat the model plays (0 moves first).")
    opponent: str = Field(
        default="random",
        description=(
            "Two-player games: 'random' (a seeded uniform choice among the bracketed moves the opponent's "
            "observation lists), or 'module:attr' naming an openenvs rollout Policy (or a factory returning one). "
            "A Policy object may also be passed as `opponent=` to the constructor."
        ),
    )
    opponent_max_tokens: int = Field(default=256, ge=1, description="Policy opponents: most tokens per move.")
    opponent_temperature: float = Field(default=1.0, ge=0.0, description="Policy opponents: sampling temperature.")
    max_turns: int | None = Field(
        default=None, ge=1, description="Truncate after this many model turns (None: the game's own limit)."
    )

    @field_validator("opponent")
    @classmethod
    def _check_opponent(cls, value: str) -> str:
        if value not in ("random", "policy") and ":" not in value:
            raise ValueError(f"opponent {value!r} must be 'random' or 'module:attr' naming a rollout Policy")
        return value


class TextArenaEnv(Env):
    """One TextArena game per episode; see the module docstring for the mapping.

    Args:
        **kwargs: `TextArenaConfig` fields; ``opponent`` may also be a rollout `Policy` object.
    """

    oracle = None  # TextArena games have no gold move sequence to follow

    def __init__(self, **kwargs: Any) -> None:
        """Validate the config; TextArena is imported at the first reset."""
        self._opponent_policy: Policy | None = None
        opponent = kwargs.get("opponent")
        if opponent is not None and not isinstance(opponent, str):
            if not callable(getattr(opponent, "generate", None)):
                raise ConfigError(
                    f"opponent={opponent!r} is neither 'random', a 'module:attr' path nor a rollout Policy "
                    "(an object with async generate(messages, tools, params))."
                )
            self._opponent_policy = opponent
            kwargs = {**kwargs, "opponent": "policy"}
        self.config = build_config(TextArenaConfig, kwargs, f"TextArena game {kwargs.get('game', '?')!r}")
        if self.config.opponent == "policy" and self._opponent_policy is None:
            raise ConfigError("opponent='policy' needs the Policy object itself: TextArenaEnv(..., opponent=policy).")
        self.max_turns = self.config.max_turns
        self._game: Any = None
        self._raw: Any = None
        self._rng = random.Random()
        self._opponent_rng = random.Random()
        self._opponent_chat: list[Message] = []
        self._opponent_offers: list[str] = []
        self._ta_seed = 0
        self._over = False

    # -- episode -----------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Observation, dict[str, Any]]:
        """Make and reset the TextArena game with this seed; in seat 1, the opponent moves first."""
        super().reset(seed=seed)
        if seed is None:
            seed = int(self.np_random.integers(2**31))
        ta = _textarena()
        self._ta_seed = seed if self.config.seed == 0 else self.config.seed * 2**32 + seed
        self._rng = random.Random()
        self._opponent_rng = random.Random(f"textarena-opponent:{self._ta_seed}")
        self._opponent_chat = []
        self._opponent_offers = []
        self._over = False
        with _episode_rng(self._rng):
            game = _make_game(ta, self.config.game)
            game.reset(num_players=self.config.num_players, seed=self._ta_seed)
            self._game, self._raw = game, _unwrap(ta, game)
            info: dict[str, Any] = {"source": self._source()}
            opponent_moves, done = self._opponent_turns()
            if done:
                self._over = True
            text = self._pending(self.config.player)
        messages = [Message(role="system", content=self.config.system_prompt)] if self.config.system_prompt else []
        messages.append(Message(role="user", content=text))
        if opponent_moves:
            info["opponent_moves"] = opponent_moves
        return Observation(messages=messages), info

    def step(self, action: Action) -> StepResult:
        """Play the model's move, then the opponent's, and return what the model sees next."""
        if self._over:  # the opponent ended the game before the model's first move
            return self._finish([], {})
        token = _CURRENT.set(self._rng)  # (a bare token, not _episode_rng: this is the hot path)
        try:
            done, step_info = self._game.step(action=action_text(action))
            opponent_moves: list[str] = []
            if not done:
                opponent_moves, done = self._opponent_turns()
            if done:
                return self._finish(opponent_moves, step_info)
            text = self._pending(self.config.player)
        finally:
            _CURRENT.reset(token)
        info = {**_jsonable(step_info), "correct": None, "source": self._source()}
        if opponent_moves:
            info["opponent_moves"] = opponent_moves
        return StepResult(user_observation(text), 0.0, False, False, info)

    def _finish(self, opponent_moves: list[str], step_info: dict[str, Any]) -> StepResult:
        with _episode_rng(self._rng):
            rewards, game_info = self._game.close()
            text = self._pending(self.config.player)
        me = self.config.player if self.config.num_players == 2 else 0
        reward = float((rewards or {}).get(me, 0.0))
        mine = (game_info or {}).get(me, {})
        info: dict[str, Any] = {
            **_jsonable(step_info),
            "correct": reward >= 1.0,
            "source": self._source(),
            "reason": mine.get("reason"),
            "invalid_move": bool(mine.get("invalid_move", False)),
            "rewards": {str(k): v for k, v in (rewards or {}).items()},
        }
        if opponent_moves:
            info["opponent_moves"] = opponent_moves
        self._over = True
        return StepResult(user_observation(text), reward, True, False, info)

    def _pending(self, player: int) -> str:
        """Render and clear the messages waiting for `player` (TextArena's get_current_player_observation)."""
        return render_messages(self._take(player), self._raw.state.role_mapping)

    def _take(self, player: int) -> list[tuple[int, str, Any]]:
        state = self._raw.state
        items = list(state.observations.get(player, []))
        state.observations[player] = []
        return items

    # -- the opponent ------------------------------------------------------------------------
    def _opponent_turns(self) -> tuple[list[str], bool]:
        """Let the opponent move while it is its turn; return its moves and whether the game ended."""
        moves: list[str] = []
        if self.config.num_players == 1:
            return moves, False
        done = False
        while not done and self._raw.state.current_player_id != self.config.player:
            items = self._take(self._raw.state.current_player_id)
            move = self._opponent_move(items)
            moves.append(move)
            done, _ = self._game.step(action=move)
            if len(moves) > 1000:
                raise RuntimeError(f"{self.config.game}: the opponent moved 1000 times in a row; the game is stuck")
        return moves, done

    def _opponent_move(self, items: list[tuple[int, str, Any]]) -> str:
        if items:
            self._opponent_chat.append(Message(role="user", content=render_messages(items, self._raw.state.role_mapping)))
            # the game's own messages, newest last, for the random player (moves echoed by players are not offers)
            self._opponent_offers.extend(text for _, text, kind in items if getattr(kind, "name", "") != "PLAYER_ACTION")
        if self._opponent_policy is None and self.config.opponent == "random":
            move = self._random_move()
        else:
            move = self._policy_move()
        self._opponent_chat.append(Message(role="assistant", content=move))
        return move

    def _random_move(self) -> str:
        """A uniform choice among the bracketed moves of the newest game message that lists any."""
        names = {f"[{n}]" for n in self._raw.state.role_mapping.values()} | {"[GAME]"}
        for text in reversed(self._opponent_offers):
            moves = sorted({m for m in _MOVE_RE.findall(text) if m not in names})
            if moves:
                return str(self._opponent_rng.choice(moves))
        return "[pass]"

    def _policy_move(self) -> str:
        from ..rollout import SamplingParams

        policy = self._opponent_policy or self._load_policy()
        params = SamplingParams(
            temperature=self.config.opponent_temperature,
            max_tokens=self.config.opponent_max_tokens,
            seed=(self._ta_seed + len(self._opponent_chat)) % 2**31,
        )
        coroutine = policy.generate(list(self._opponent_chat), [], params)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coroutine).text
        # step() was called from inside an event loop: run the policy on a loop of its own
        result: list[Any] = []
        worker = threading.Thread(target=lambda: result.append(asyncio.run(coroutine)))
        worker.start()
        worker.join()
        return str(result[0].text)

    def _load_policy(self) -> Policy:
        from .._registry import load_entry_point

        obj = load_entry_point(self.config.opponent)
        policy = obj() if not callable(getattr(obj, "generate", None)) else obj
        if not callable(getattr(policy, "generate", None)):
            raise ConfigError(f"opponent {self.config.opponent!r} is not a rollout Policy (it has no generate method).")
        self._opponent_policy = policy
        return policy  # type: ignore[no-any-return]

    def _source(self) -> dict[str, Any]:
        return {"env_id": self.spec.id if self.spec else self.config.game, "index": self._ta_seed, "difficulty": None}


def _make_game(ta: Any, game: str) -> Any:
    """``textarena.make(game)``, with the game's module imported and routed first.

    Some games bind ``random.random`` in their constructor, so the routing must come before it.
    """
    entry = ta.envs.registration.ENV_REGISTRY.get(game)
    if entry is None:
        raise ConfigError(
            f"TextArena has no env {game!r}. Use a TextArena id such as 'Sudoku-v0'; the registered ones are in "
            "openenvs.bridges.textarena.GAMES."
        )
    if isinstance(entry.entry_point, str):
        importlib.import_module(entry.entry_point.split(":")[0])
        _route_textarena_modules()
    return ta.make(game)


def _unwrap(ta: Any, env: Any) -> Any:
    while isinstance(env, ta.Wrapper):
        env = env.env
    return env


def _jsonable(info: Any) -> dict[str, Any]:
    """TextArena's step info, keeping only plain JSON values."""
    if not isinstance(info, dict):
        return {}
    return {str(k): v for k, v in info.items() if isinstance(v, (str, int, float, bool, type(None)))}
