"""Curriculum schedules: which curriculum rows the next GRPO rollout round trains on.

The paper trains on all levels shuffled together (its ablation "no curriculum" is a different
thing: it drops the incremental levels). We offer three schedules behind one interface:

- ``mixed``: every level together, reshuffled each pass (the released code's behaviour).
- ``ordered``: L1, then L2, ... in stages. A stage ends after ``level_steps`` rollout rounds, or
  earlier once the running mean reward of the level's rows passes ``advance_threshold``; the
  last level stays active to the end.
- ``adaptive``: sample rows with weight ``p(1-p) + epsilon``, where ``p`` is the row's running
  mean reward. Rows that are always solved (p=1) or never solved (p=0) give GRPO groups with zero
  advantage, so they waste rollouts; rows in between carry the learning signal.

A schedule is pure logic over row metadata (levels) and observed rewards: no torch, no trainer.
It is driven by :class:`selfif.rl.sampler.CurriculumSampler` (asks ``next_chunk``) and fed by the
trainer (``observe``). Its whole state is JSON (``state_dict``) so a checkpoint can carry it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from selfif.config import ConfigError

SCHEDULES = ("ordered", "mixed", "adaptive")


class Schedule:
    """Base: running per-row mean rewards, per-level means, a seeded RNG, JSON state."""

    name = "base"

    def __init__(self, levels: Sequence[int], seed: int = 0, ema: float = 0.5):
        if not levels:
            raise ValueError("the curriculum has no rows to train on")
        self.levels = [int(x) for x in levels]
        self.level_ids = sorted(set(self.levels))
        self.rng = random.Random(seed)
        self.ema = ema
        self.rounds = 0  # rollout rounds handed out so far
        self.row_mean: dict[int, float] = {}  # row -> running mean reward
        self.row_count: dict[int, int] = {}
        self.level_sum: dict[int, float] = {}
        self.level_n: dict[int, int] = {}
        self._queues: dict[str, list[int]] = {}  # without-replacement draw queues (per pool)

    # --- feedback ---------------------------------------------------------------------------
    def observe(self, rows: Sequence[int], rewards: Sequence[float]) -> None:
        """Record one reward per completion (``rows[i]`` is the curriculum row it answered)."""
        per_row: dict[int, list[float]] = {}
        for r, x in zip(rows, rewards, strict=True):
            if x != x:  # NaN: unscorable completion
                continue
            per_row.setdefault(int(r), []).append(float(x))
        for r, xs in per_row.items():
            m = sum(xs) / len(xs)
            n = self.row_count.get(r, 0)
            # first observation sets the mean; later ones move it by ``ema``
            self.row_mean[r] = m if n == 0 else (1 - self.ema) * self.row_mean[r] + self.ema * m
            self.row_count[r] = n + 1
            lvl = self.levels[r]
            self.level_sum[lvl] = self.level_sum.get(lvl, 0.0) + sum(xs)
            self.level_n[lvl] = self.level_n.get(lvl, 0) + len(xs)

    def level_mean(self, level: int) -> float | None:
        n = self.level_n.get(level, 0)
        return self.level_sum[level] / n if n else None

    # --- choice -----------------------------------------------------------------------------
    @property
    def active_level(self) -> int | None:
        """The level being trained (``None`` when several levels are mixed)."""
        return None

    def next_chunk(self, k: int) -> list[int]:
        """``k`` distinct rows (fewer only if the pool is smaller) for the next rollout round."""
        chunk = self._choose(k)
        self.rounds += 1
        return chunk

    def _choose(self, k: int) -> list[int]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _shuffled_pass(self, pool: list[int], k: int, key: str) -> list[int]:
        """Draw without replacement from ``pool``, refilling (reshuffled) when it runs out."""
        queue = self._queues.setdefault(key, [])
        out: list[int] = []
        while len(out) < min(k, len(pool)):
            if not queue:
                queue.extend(pool)
                self.rng.shuffle(queue)
            r = queue.pop()
            if r not in out:
                out.append(r)
        return out

    # --- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "schedule": self.name,
            "rounds": self.rounds,
            "rng": _rng_to_json(self.rng.getstate()),
            "row_mean": {str(k): v for k, v in self.row_mean.items()},
            "row_count": {str(k): v for k, v in self.row_count.items()},
            "level_sum": {str(k): v for k, v in self.level_sum.items()},
            "level_n": {str(k): v for k, v in self.level_n.items()},
            "queues": {k: list(v) for k, v in self._queues.items()},
            "n_rows": len(self.levels),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("schedule") != self.name:
            raise ConfigError(f"checkpoint holds a {state.get('schedule')!r} schedule state, not {self.name!r}")
        if state.get("n_rows") != len(self.levels):
            raise ConfigError(
                f"checkpoint schedule state is for {state.get('n_rows')} curriculum rows, this curriculum has "
                f"{len(self.levels)}: resume with the same curriculum or start a fresh --out"
            )
        self.rounds = int(state["rounds"])
        self.rng.setstate(_rng_from_json(state["rng"]))
        self.row_mean = {int(k): float(v) for k, v in state["row_mean"].items()}
        self.row_count = {int(k): int(v) for k, v in state["row_count"].items()}
        self.level_sum = {int(k): float(v) for k, v in state["level_sum"].items()}
        self.level_n = {int(k): int(v) for k, v in state["level_n"].items()}
        self._queues = {k: list(v) for k, v in state["queues"].items()}

    def _rows_at(self, level: int) -> list[int]:
        return [i for i, lv in enumerate(self.levels) if lv == level]


class MixedSchedule(Schedule):
    """All levels shuffled together; each pass over the data is a fresh permutation."""

    name = "mixed"

    def __init__(self, levels, seed=0, **kw):
        super().__init__(levels, seed, **kw)
        self._all = list(range(len(self.levels)))

    def _choose(self, k):
        return self._shuffled_pass(self._all, k, "all")


class OrderedSchedule(Schedule):
    """L1 → L2 → ... in stages of ``level_steps`` rounds, or earlier at ``advance_threshold``."""

    name = "ordered"

    def __init__(self, levels, seed=0, level_steps: int = 10, advance_threshold: float | None = None, **kw):
        super().__init__(levels, seed, **kw)
        if level_steps < 1:
            raise ValueError("level_steps must be >= 1")
        self.level_steps = level_steps
        self.advance_threshold = advance_threshold
        self.stage = 0  # index into level_ids
        self.stage_rounds = 0  # rounds handed out in the current stage
        self.stage_sum = 0.0  # rewards observed in the current stage (for the threshold)
        self.stage_n = 0

    @property
    def active_level(self):
        return self.level_ids[self.stage]

    def observe(self, rows, rewards):
        super().observe(rows, rewards)
        for r, x in zip(rows, rewards, strict=True):
            if x == x and self.levels[int(r)] == self.active_level:
                self.stage_sum += float(x)
                self.stage_n += 1

    def _maybe_advance(self) -> None:
        if self.stage >= len(self.level_ids) - 1:
            return
        by_steps = self.stage_rounds >= self.level_steps
        by_reward = (
            self.advance_threshold is not None
            and self.stage_n > 0
            and self.stage_sum / self.stage_n >= self.advance_threshold
        )
        if by_steps or by_reward:
            self.stage += 1
            self.stage_rounds, self.stage_sum, self.stage_n = 0, 0.0, 0

    def _choose(self, k):
        self._maybe_advance()
        lvl = self.active_level
        chunk = self._shuffled_pass(self._rows_at(lvl), k, f"L{lvl}")
        if len(chunk) < k:  # a level smaller than one round: top up from the next levels, then earlier ones
            for later in (True, False):
                extra = [i for i in range(len(self.levels)) if (self.levels[i] > lvl) == later and i not in chunk]
                self.rng.shuffle(extra)
                chunk += extra[: k - len(chunk)]
        self.stage_rounds += 1
        return chunk

    def state_dict(self):
        s = super().state_dict()
        s.update(stage=self.stage, stage_rounds=self.stage_rounds, stage_sum=self.stage_sum, stage_n=self.stage_n)
        return s

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.stage, self.stage_rounds = int(state["stage"]), int(state["stage_rounds"])
        self.stage_sum, self.stage_n = float(state["stage_sum"]), int(state["stage_n"])


class AdaptiveSchedule(Schedule):
    """Sample rows ∝ p(1-p) + epsilon (p = running mean reward; unseen rows get p = 0.5)."""

    name = "adaptive"

    def __init__(self, levels, seed=0, epsilon: float = 0.05, **kw):
        super().__init__(levels, seed, **kw)
        self.epsilon = epsilon

    def weight(self, row: int) -> float:
        p = min(max(self.row_mean.get(row, 0.5), 0.0), 1.0)
        return p * (1 - p) + self.epsilon

    def _choose(self, k):
        pool = list(range(len(self.levels)))
        weights = [self.weight(r) for r in pool]
        out: list[int] = []
        for _ in range(min(k, len(pool))):  # weighted sampling without replacement
            r = self.rng.choices(range(len(pool)), weights=weights)[0]
            out.append(pool.pop(r))
            weights.pop(r)
        return out


def make_schedule(name: str, levels: Sequence[int], *, seed: int = 0, level_steps: int = 10,
                  advance_threshold: float | None = None, epsilon: float = 0.05) -> Schedule:
    """Build a schedule by its config name (``train.schedule``)."""
    if name == "mixed":
        return MixedSchedule(levels, seed)
    if name == "ordered":
        return OrderedSchedule(levels, seed, level_steps=level_steps, advance_threshold=advance_threshold)
    if name == "adaptive":
        return AdaptiveSchedule(levels, seed, epsilon=epsilon)
    raise ValueError(f"unknown schedule {name!r}; expected one of {', '.join(SCHEDULES)}")


def _rng_to_json(state):
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _rng_from_json(obj):
    version, internal, gauss = obj
    return (version, tuple(internal), gauss)
