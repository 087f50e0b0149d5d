"""A torch ``Sampler`` that lets a curriculum schedule choose each GRPO rollout round's prompts.

TRL's ``GRPOTrainer`` expects its train sampler to yield indices in a fixed structure (see
``trl.trainer.utils.RepeatSampler``): a *chunk* of ``chunk_size`` distinct prompts (one
generation batch), each index repeated ``num_generations`` times (one GRPO group), and the
whole chunk repeated ``repeat_count`` times (``steps_per_generation × num_iterations``: the
trainer reuses buffered completions for those micro-steps). We keep that structure exactly and
only replace *which* prompts form a chunk: the schedule picks them, lazily, when the data loader
asks for the chunk's first index.

Lag and checkpoints: the data loader prefetches, so chunk n+1 is usually chosen before the
rewards of chunk n are observed. The schedule therefore acts on rewards one round old. For
checkpoints we keep, for every chunk handed out but not yet trained on, a snapshot of the
schedule state taken just before it was chosen, plus the rewards observed since. The state we
save is "snapshot of the first untrained chunk + replay of later observations": resuming
re-chooses that chunk instead of silently skipping it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Any

from torch.utils.data import Sampler

from selfif.layout import CURRICULUM_STATE
from selfif.rl.schedules import Schedule

STATE_FILE = CURRICULUM_STATE  # per checkpoint dir, written by selfif.rl.callbacks (name: selfif.layout)


class CurriculumSampler(Sampler[int]):
    """RepeatSampler-shaped index stream whose chunks come from a :class:`Schedule`.

    One epoch is ``len(rows) // chunk_size`` chunks, so ``len()`` matches what one pass
    yields (the HF Trainer derives its epoch arithmetic from it).
    """

    def __init__(self, schedule: Schedule, chunk_size: int, mini_repeat_count: int, repeat_count: int = 1):
        n = len(schedule.levels)
        if chunk_size > n:
            raise ValueError(
                f"one rollout round needs {chunk_size} distinct prompts but the curriculum has only {n} trainable "
                f"rows (levels >= 1): lower per_device_train_batch_size × gradient_accumulation_steps / "
                f"num_generations or use a larger curriculum"
            )
        self.schedule = schedule
        self.chunk_size = chunk_size
        self.mini_repeat_count = mini_repeat_count
        self.repeat_count = repeat_count
        self.chunks_per_epoch = max(1, n // chunk_size)
        self.consumed = 0  # chunks the trainer generated completions for (and observed)
        self.chunk_levels: dict[int, int | None] = {}  # round -> active level when it was chosen
        # events since the first untrained chunk: ("choose", round, state_before) | ("observe", rows, rewards)
        self._events: list[tuple[Any, ...]] = []

    def __len__(self) -> int:
        return self.chunks_per_epoch * self.chunk_size * self.mini_repeat_count * self.repeat_count

    def __iter__(self) -> Iterator[int]:
        for _ in range(self.chunks_per_epoch):
            rnd = self.schedule.rounds
            self._events.append(("choose", rnd, self.schedule.state_dict()))
            chunk = self.schedule.next_chunk(self.chunk_size)
            self.chunk_levels[rnd] = self.schedule.active_level
            for _ in range(self.repeat_count):
                for idx in chunk:
                    for _ in range(self.mini_repeat_count):
                        yield idx

    # --- feedback from the trainer ------------------------------------------------------------
    def observe(self, rows: Sequence[int], rewards: Sequence[float]) -> None:
        """Rewards of one rollout round (all processes' completions, gathered)."""
        self.schedule.observe(rows, rewards)
        self._events.append(("observe", list(rows), list(rewards)))
        self.chunk_levels.pop(self.consumed, None)
        self.consumed += 1
        self._trim()

    def _trim(self) -> None:
        """Forget events before the choice of the first untrained chunk."""
        for i, ev in enumerate(self._events):
            if ev[0] == "choose" and ev[1] >= self.consumed:
                del self._events[:i]
                return
        self._events.clear()  # every chosen chunk was trained on: current state is exact

    # --- checkpoint state ---------------------------------------------------------------------
    def checkpoint_state(self) -> dict[str, Any]:
        """Schedule state as if no chunk beyond those trained on had been chosen."""
        pending = [i for i, ev in enumerate(self._events) if ev[0] == "choose" and ev[1] >= self.consumed]
        if not pending:
            state = self.schedule.state_dict()
        else:
            replay = copy.deepcopy(self.schedule)
            replay.load_state_dict(self._events[pending[0]][2])
            for ev in self._events[pending[0] + 1 :]:
                if ev[0] == "observe":
                    replay.observe(ev[1], ev[2])
            state = replay.state_dict()
        return {"schedule_state": state, "consumed": self.consumed}

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        self.schedule.load_state_dict(state["schedule_state"])
        self.consumed = int(state["consumed"])
        self._events.clear()
