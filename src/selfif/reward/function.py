"""The instruction-following reward: mean over an instruction's constraints of per-constraint scores.

``R = mean_i r_i`` with ``r_i`` = verifier verdict (0/1) for a hard constraint and the reward
model's P(satisfies) for a soft one (the paper's reward). Options reproduce the paper's
ablations and our variants: RM for hard constraints too, binary RM verdicts (threshold 0.5),
IFEval's loose verification, graded (shaped) hard scores.

Defined behaviour:

- Empty or whitespace-only response: every component is 0 (the RM is not asked).
- A row with no constraints has no components and total 0 (nothing to reward).
- Unknown constraint id, malformed constraint record, or bad kwargs: ``ValueError`` naming the
  constraint. We *raise* rather than silently reward 0, because a silent 0 would train the
  policy against a broken dataset row. Call :meth:`InstructionReward.validate` (or
  :func:`validate_dataset`) when building the RL dataset so this fails at construction time,
  never deep inside training.
- Soft constraint and no RM: ``ValueError`` (also raised by ``validate``).
- kwargs whose value is ``None`` are dropped before verification: HF ``datasets`` stores a
  list-of-dicts column as Arrow structs and fills every kwarg name any row uses with ``None``
  in the rows that lack it.

Adapters: :func:`make_trl_reward` (TRL ``GRPOTrainer`` reward function) and
:func:`make_verl_compute_score` / :func:`compute_score` (verl's custom reward function).
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from selfif.config import ConfigError
from selfif.constraints.base import ConstraintError, ConstraintInstance

log = logging.getLogger(__name__)

ConstraintLike = ConstraintInstance | Mapping[str, Any]


@dataclass
class RewardResult:
    total: float
    components: list[float]
    kinds: list[str] = field(default_factory=list)  # "hard" | "soft", parallel to components


def _registry():
    from selfif.constraints import registry

    return registry


def to_instance(c: ConstraintLike | str) -> ConstraintInstance:
    """Validate one constraint record (dict, JSON string or instance) against the registry."""
    if isinstance(c, str):
        try:
            c = json.loads(c)
        except json.JSONDecodeError as e:
            raise ValueError(f"constraint record is not valid JSON: {e.msg}: {c[:80]!r}") from None
    if isinstance(c, ConstraintInstance):
        inst = c
    elif isinstance(c, Mapping):
        d = dict(c)
        if isinstance(d.get("kwargs"), Mapping):
            d["kwargs"] = {k: v for k, v in d["kwargs"].items() if v is not None}
        elif d.get("kwargs") is None:
            d["kwargs"] = {}
        try:
            inst = ConstraintInstance.model_validate(d)
        except ValidationError as e:
            why = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
            raise ValueError(f"malformed constraint record {str(c)[:120]}: {why}") from None
    else:
        raise ValueError(f"constraint must be a dict or ConstraintInstance, got {type(c).__name__}")
    try:
        ctype = _registry().get(inst.id)
    except ConstraintError as e:
        raise ValueError(f"unknown constraint id {inst.id!r}: {e}") from None
    if ctype.kind != inst.kind:
        raise ValueError(f"constraint {inst.id!r} is {ctype.kind} in the registry but the record says {inst.kind!r}")
    if inst.kind == "hard":
        try:
            ctype.check_kwargs(inst.kwargs)
        except ConstraintError as e:
            raise ValueError(str(e)) from None
    return inst


def parse_constraints(value: Any) -> list[ConstraintInstance]:
    """A list of constraint records, or a JSON string holding such a list.

    numpy arrays (what verl's parquet loading turns lists into) are accepted too.
    """
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ValueError(f"constraints column is not valid JSON: {e.msg}") from None
    if isinstance(value, Mapping) and "constraints" in value:
        value = value["constraints"]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"expected a list of constraint records, got {type(value).__name__}")
    return [to_instance(c) for c in value]


def _is_empty(response: str | None) -> bool:
    return response is None or not str(response).strip()


class InstructionReward:
    """Per-instruction reward from hard verifiers and a soft-constraint RM (in-process or HTTP).

    ``rm``: a :class:`~selfif.reward.model.ConstraintRM`, an :class:`~selfif.reward.client.RMClient`,
    or ``None`` (only hard constraints can then be scored).
    """

    def __init__(self, rm=None, rm_for_hard: bool = False, binary: bool = False, loose: bool = False, graded_hard: bool = False):
        if rm_for_hard and rm is None:
            raise ConfigError("reward.rm_for_hard=true needs a reward model (--rm, --rm-url or reward.rm_url)")
        self.rm = rm
        self.rm_for_hard = rm_for_hard
        self.binary = binary
        self.loose = loose
        self.graded_hard = graded_hard

    @classmethod
    def from_config(cls, cfg, rm_dir: str | None = None) -> "InstructionReward":
        """Build from a :class:`selfif.config.RewardConfig`: RM over HTTP when ``cfg.rm_url`` is
        set, else loaded in-process from ``rm_dir``, else none (hard constraints only)."""
        rm = None
        if cfg.rm_url:
            from selfif.reward.client import RMClient

            rm = RMClient(cfg.rm_url)
        elif rm_dir is not None:
            from selfif.reward.model import ConstraintRM

            rm = ConstraintRM.load(rm_dir)
        return cls(rm=rm, rm_for_hard=cfg.rm_for_hard, binary=cfg.binary, loose=cfg.loose, graded_hard=cfg.graded_hard)

    def _uses_rm(self, c: ConstraintInstance) -> bool:
        return c.kind == "soft" or self.rm_for_hard

    def validate(self, constraints: Sequence[ConstraintLike] | str) -> list[ConstraintInstance]:
        """Check a dataset row's constraints now (unknown ids, bad kwargs, soft without RM)."""
        insts = parse_constraints(constraints)
        if self.rm is None:
            soft = [c.id for c in insts if c.kind == "soft"]
            if soft:
                raise ValueError(f"soft constraints {soft} need a reward model, but InstructionReward has rm=None")
        return insts

    def _hard(self, c: ConstraintInstance, response: str, instruction: str | None) -> float:
        reg = _registry()
        if self.graded_hard:
            try:
                g = reg.graded(c.id, response, c.kwargs, prompt=instruction)
            except ConstraintError as e:
                raise ValueError(f"constraint {c.id!r}: {e}") from None
            if g is not None:
                return float(g)
        try:
            ok = reg.verify(c.id, response, c.kwargs, loose=self.loose, prompt=instruction)
        except ConstraintError as e:
            raise ValueError(f"constraint {c.id!r}: {e}") from None
        return 1.0 if ok else 0.0

    def score_batch(self, rows: Sequence[tuple[Sequence[ConstraintLike] | str, str, str | None]]) -> list[RewardResult]:
        """Score many ``(constraints, response, instruction)`` rows; all RM items go in one call."""
        parsed = [(self.validate(cons), resp, instr) for cons, resp, instr in rows]
        rm_items: list[tuple[str, str, str | None]] = []
        rm_slots: list[tuple[int, int]] = []
        comps: list[list[float]] = []
        for r, (insts, resp, instr) in enumerate(parsed):
            row = [0.0] * len(insts)
            if not _is_empty(resp):
                for j, c in enumerate(insts):
                    if self._uses_rm(c):
                        rm_items.append((resp, c.text, instr))
                        rm_slots.append((r, j))
                    else:
                        row[j] = self._hard(c, resp, instr)
            comps.append(row)
        if rm_items:
            probs = self.rm.score(rm_items)
            for (r, j), p in zip(rm_slots, probs):
                comps[r][j] = (1.0 if p >= 0.5 else 0.0) if self.binary else float(p)
        out = []
        for (insts, _, _), row in zip(parsed, comps):
            total = sum(row) / len(row) if row else 0.0
            out.append(RewardResult(total=total, components=row, kinds=[c.kind for c in insts]))
        return out

    def __call__(self, constraints: Sequence[ConstraintLike] | str, response: str, instruction: str | None = None) -> RewardResult:
        return self.score_batch([(constraints, response, instruction)])[0]


def validate_dataset(rows: Sequence[Mapping[str, Any]], reward: InstructionReward, column: str = "constraints") -> None:
    """Validate every row's constraints; ``ValueError`` names the first bad row index."""
    for i, row in enumerate(rows):
        try:
            reward.validate(row[column])
        except (ValueError, KeyError) as e:
            raise ValueError(f"dataset row {i}: {e}") from None


def message_text(x: Any, role: str | None = None) -> str:
    """Plain text of a completion/prompt: a string, or the last (role-matching) message's content.

    TRL hands reward functions (and the trainer's hooks) plain strings or conversational message
    lists; this is the one place that turns either into the text the verifiers and the RM read.
    """
    if isinstance(x, str):
        return x
    if isinstance(x, Mapping):
        return str(x.get("content", ""))
    if isinstance(x, Sequence):
        msgs = [m for m in x if isinstance(m, Mapping) and (role is None or m.get("role") == role)]
        return str(msgs[-1].get("content", "")) if msgs else ""
    return str(x)


def _kind_means(results: Sequence[RewardResult]) -> dict[str, float]:
    acc: dict[str, list[float]] = defaultdict(list)
    for res in results:
        for k, v in zip(res.kinds, res.components):
            acc[k].append(v)
    return {k: sum(v) / len(v) for k, v in sorted(acc.items())}


def make_trl_reward(reward: InstructionReward, column: str = "constraints") -> Callable[..., list[float]]:
    """A TRL ``GRPOTrainer`` reward function over a dataset with a ``constraints`` column.

    TRL calls reward functions as ``f(prompts=..., completions=..., completion_ids=...,
    **columns, trainer_state=..., log_extra=..., log_metric=...)`` with every non-prompt dataset
    column as a list (one entry per completion). Completions are strings or conversational
    ``[{"role": "assistant", "content": ...}]`` lists. The column holds a list of constraint
    records per row (or a JSON string of one). Per-kind component means go to TRL's
    ``log_metric`` as ``constraint_reward/<kind>`` and are also kept in ``.last_metrics``.
    """

    def selfif_instruction_reward(prompts, completions, **kwargs) -> list[float]:
        if column not in kwargs:
            raise ValueError(f"the training dataset has no {column!r} column; the reward needs each row's constraints")
        cons = kwargs[column]
        rows = [(c, message_text(comp, "assistant"), message_text(p, "user")) for c, comp, p in zip(cons, completions, prompts)]
        results = reward.score_batch(rows)
        means = _kind_means(results)
        means["empty_response_rate"] = sum(_is_empty(r[1]) for r in rows) / max(1, len(rows))
        selfif_instruction_reward.last_metrics = means
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            for k, v in means.items():
                log_metric(f"constraint_reward/{k}", v)
        return [r.total for r in results]

    selfif_instruction_reward.last_metrics = {}
    return selfif_instruction_reward


def _blank(x: Any) -> bool:
    if x is None:
        return True
    try:
        return len(x) == 0  # "", [], {}, empty numpy array
    except TypeError:
        return False


def make_verl_compute_score(reward: InstructionReward) -> Callable[..., float]:
    """verl custom reward: ``compute_score(data_source, solution_str, ground_truth, extra_info=None)``.

    Constraints come from ``ground_truth`` (a list of records, a JSON string of one, or a dict
    with a ``constraints`` key); if it holds none, from ``extra_info["constraints"]``. The
    instruction (for ``combination:repeat_prompt`` and the RM's optional instruction input) is
    ``extra_info["instruction"]`` or ``extra_info["prompt"]`` when present.
    """

    def compute_score(data_source, solution_str, ground_truth, extra_info=None, **_) -> float:
        extra = extra_info or {}
        source = extra.get("constraints") if _blank(ground_truth) else ground_truth
        if source is None:
            raise ValueError("verl row has no constraints in ground_truth or extra_info['constraints']")
        instruction = extra.get("instruction") or extra.get("prompt")
        if instruction is not None and not isinstance(instruction, str):
            instruction = message_text(instruction, "user")
        return reward(source, solution_str, instruction).total

    return compute_score


_DEFAULT: dict[str, Callable] = {}


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> float:
    """Module-level verl entry point (``custom_reward_function.path=.../function.py``, ``name=compute_score``).

    The RM comes from the environment: ``SELFIF_RM_URL`` (a running ``selfif serve-rm``) or
    ``SELFIF_RM_DIR`` (load in-process); neither set means hard constraints only.
    """
    if "fn" not in _DEFAULT:
        rm = None
        if os.environ.get("SELFIF_RM_URL"):
            from selfif.reward.client import RMClient

            rm = RMClient(os.environ["SELFIF_RM_URL"])
        elif os.environ.get("SELFIF_RM_DIR"):
            from selfif.reward.model import ConstraintRM

            rm = ConstraintRM.load(os.environ["SELFIF_RM_DIR"])
        _DEFAULT["fn"] = make_verl_compute_score(InstructionReward(rm=rm))
    return _DEFAULT["fn"](data_source, solution_str, ground_truth, extra_info, **kwargs)
