"""A TRL callback that raises an env's difficulty as the policy's accuracy rises."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback

if TYPE_CHECKING:
    from ..verify import Curriculum
    from ._rewards import EnvScorer

__all__ = ["CurriculumCallback"]

logger = logging.getLogger(__name__)


class CurriculumCallback(TrainerCallback):  # type: ignore[misc]
    """After each optimizer step, feed the step's outcomes to `curriculum`; log and checkpoint its level.

    The outcomes (correct flags, or rewards where the env has no notion of correct) come from the
    scorer the reward functions use; prompts drawn afterwards use the new level.

    Args:
        curriculum: The levels and the rule to move up.
        scorer: The scorer whose outcomes to read (``openenvs.trl.default_scorer()``).
    """

    def __init__(self, curriculum: Curriculum, scorer: EnvScorer) -> None:
        """Hold the curriculum and the scorer it reads."""
        self.curriculum = curriculum
        self.scorer = scorer
        self.history: list[tuple[int, int]] = []
        """(global step, level) at every level change."""

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Forget outcomes recorded before training; on a resumed run, restore the checkpoint's level."""
        self.scorer.outcomes.clear()
        saved = Path(args.output_dir) / f"checkpoint-{state.global_step}" / "curriculum.json"
        if state.global_step > 0 and saved.is_file():
            self.curriculum.load_state_dict(json.loads(saved.read_text()))
            logger.warning("Curriculum: resumed at level %d from %s", self.curriculum.level, saved)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Update the curriculum with this step's outcomes."""
        outcomes = [value for env_id, value in self.scorer.outcomes if env_id == self.curriculum.env_id]
        self.scorer.outcomes.clear()
        if outcomes and self.curriculum.update(outcomes):
            self.history.append((state.global_step, self.curriculum.level))
            logger.warning("Curriculum: step %d, moving to level %d %s", state.global_step, self.curriculum.level, self.curriculum.kwargs)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Add ``curriculum/level`` to the logged metrics."""
        if logs is not None:
            logs["curriculum/level"] = self.curriculum.level
            if state.log_history and state.log_history[-1].get("step") == state.global_step:
                state.log_history[-1]["curriculum/level"] = self.curriculum.level

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Write the curriculum state next to the checkpoint."""
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if folder.is_dir():
            (folder / "curriculum.json").write_text(json.dumps(self.curriculum.state_dict()))
