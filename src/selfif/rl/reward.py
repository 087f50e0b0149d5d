"""The reward as GRPO sees it: :class:`~selfif.reward.InstructionReward` adapted to TRL's reward-function call.

TRL calls a reward function as ``f(prompts=..., completions=..., completion_ids=..., **columns,
log_metric=...)`` (:func:`selfif.reward.make_trl_reward` is the plain adapter). The training stage adds
three things on top, all here so the trainer subclass (:mod:`selfif.rl.grpo_trainer`) holds no
reward logic:

- hard/soft component means per curriculum level (``constraint_reward_level/L<k>/{hard,soft}``);
- ``train.truncated_fails_end_constraints``: a completion cut at the token cap scores 0 on its
  end-dependent constraints (:mod:`selfif.rl.truncation`);
- ``train.looping_fails``: a completion that ends in a repetition loop scores 0 on every constraint
  (:mod:`selfif.rl.greedy`).

What "cut at the cap" means depends on the policy (its end-of-sequence ids) and the run (its token
cap). Both are a :class:`CompletionLimits` given to the adapter when it is built, from the same
values TRL's trainer derives (the trainer checks that they agree), instead of being read back from
the trainer after it exists.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from selfif.generation.batches import is_truncated
from selfif.config import ConfigError, RewardConfig
from selfif.reward.function import make_trl_reward, message_text
from selfif.rl.truncation import end_dependent


@dataclass(frozen=True)
class CompletionLimits:
    """How a rollout ends: at one of ``end_ids`` (the policy's EOS ids, then the pad id, as TRL
    lists them), or cut at ``max_tokens`` (``max_completion_length``) without one."""

    max_tokens: int
    end_ids: tuple[int, ...]

    def truncated(self, completion_ids: Sequence[int]) -> bool:
        """TRL's rule (:func:`selfif.generation.batches.is_truncated`): the last token is not an end id."""
        return is_truncated(completion_ids, self.end_ids)


class _RecordingReward:
    """Proxy of an InstructionReward that keeps the last batch's per-row results (components, kinds)."""

    def __init__(self, reward):
        self.reward = reward
        self.last = None

    def score_batch(self, rows):
        self.last = self.reward.score_batch(rows)
        return self.last

    def __getattr__(self, name):
        return getattr(self.reward, name)


def trl_reward_with_levels(
    reward,
    limits: CompletionLimits | None = None,
    *,
    truncated_fails_end_constraints: bool = False,
    looping_fails: bool = False,
) -> Callable[..., list[float]]:
    """The reward helper's TRL adapter, plus hard/soft component means per curriculum level.

    The adapter already logs ``constraint_reward/{hard,soft}`` over the batch; here we add
    ``constraint_reward_level/L<k>/{hard,soft}`` (which constraints get learned at which depth).
    With ``truncated_fails_end_constraints``, a completion that ``limits`` calls truncated scores 0
    on its end-dependent constraints (:mod:`selfif.rl.truncation`); the rule needs ``limits``. With
    ``looping_fails``, one that ends in a repetition loop scores 0 on every constraint
    (:mod:`selfif.rl.greedy`). The function is named ``instruction``: TRL logs it as
    ``rewards/instruction/*``.
    """
    if truncated_fails_end_constraints and limits is None:
        raise ValueError("truncated_fails_end_constraints needs the completion limits (the policy's end ids)")
    rec = _RecordingReward(reward)
    inner = make_trl_reward(rec)

    def instruction(prompts, completions, **kwargs):
        out = inner(prompts=prompts, completions=completions, **kwargs)
        if truncated_fails_end_constraints and kwargs.get("completion_ids") is not None:
            out = _fail_truncated(out, rec.last, kwargs["constraints"], kwargs["completion_ids"], limits, kwargs.get("log_metric"))
        if looping_fails and rec.last is not None:
            from selfif.rl.greedy import fail_looping

            out, zeroed = fail_looping(out, rec.last, [message_text(c, "assistant") for c in completions])
            if callable(kwargs.get("log_metric")):
                kwargs["log_metric"]("looping/zeroed", zeroed / max(1, len(out)))
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and rec.last is not None and "level" in kwargs:
            acc: dict[tuple[int, str], list[float]] = {}
            for lv, res in zip(kwargs["level"], rec.last, strict=True):
                for kind, v in zip(res.kinds, res.components, strict=True):
                    acc.setdefault((int(lv), kind), []).append(v)
            for (lv, kind), vs in sorted(acc.items()):
                log_metric(f"constraint_reward_level/L{lv}/{kind}", sum(vs) / len(vs))
        return out

    return instruction


def _fail_truncated(totals, results, constraints, completion_ids, limits: CompletionLimits, log_metric) -> list[float]:
    """Zero the end-dependent components of truncated completions (in ``results`` too) and re-average."""
    out = list(totals)
    zeroed = 0
    for r, (res, cons, ids) in enumerate(zip(results, constraints, completion_ids, strict=True)):
        if not limits.truncated(ids):
            continue
        cons = json.loads(cons) if isinstance(cons, str) else cons
        for j, c in enumerate(cons):
            if c["kind"] == "hard" and end_dependent(c["id"], c.get("kwargs")) and res.components[j] > 0:
                res.components[j] = 0.0
                zeroed += 1
        if res.components:
            out[r] = res.total = sum(res.components) / len(res.components)
    if callable(log_metric):
        log_metric("truncation/end_constraints_zeroed", zeroed / max(1, len(out)))
    return out


def make_reward(reward_cfg: RewardConfig, rm_dir: str | Path | None = None, rm_url: str | None = None):
    """The paper's reward (InstructionReward) with an in-process RM, an HTTP RM, or none (hard only)."""
    from selfif.reward import InstructionReward

    if rm_url and rm_dir:
        raise ConfigError("give either an RM directory (--rm) or an RM server URL (--rm-url), not both")
    url = rm_url or (None if rm_dir else reward_cfg.rm_url)  # an explicit RM beats the config's reward.rm_url
    return InstructionReward.from_config(reward_cfg.model_copy(update={"rm_url": url}), rm_dir=rm_dir)  # URL wins there
