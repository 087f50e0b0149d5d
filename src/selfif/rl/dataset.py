"""curriculum.jsonl -> the GRPO training dataset.

Rows of level >= 1 become training prompts (level 0, the bare seed, only serves pseudo-labelling:
it has no constraint to reward). Columns:

- ``prompt``: conversational ``[{"role": "user", "content": ...}]`` (TRL applies the chat template);
- ``constraints``: the row's constraint records as a JSON string. A list-of-dicts column would be
  stored by Arrow as structs whose fields are the union of all rows' kwargs, with type clashes
  between rows (an int in one row, a list in another) failing outright; a string is exact;
- ``level``, ``seed_id``; ``row``: the row's index, so the schedule can attribute rewards.

The dataset is validated against the reward up front (unknown ids, bad kwargs, soft constraints
without a reward model), so a broken row fails here with its file and line, not mid-training.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from selfif.constraints.base import ConstraintInstance
from selfif.io import InputError, iter_jsonl
from selfif.models import chat_messages


class CurriculumRecord(BaseModel):
    """The fields of a curriculum row that training reads (extra fields, e.g. seed_text, allowed)."""

    model_config = ConfigDict(extra="ignore")
    seed_id: str
    level: int = Field(ge=0)
    prompt: str = Field(min_length=1)
    constraints: list[ConstraintInstance]


def read_curriculum(path: str | os.PathLike, reward=None, min_level: int = 1) -> list[dict[str, Any]]:
    """Training rows from ``curriculum.jsonl`` (levels >= ``min_level``), validated.

    ``reward``: an :class:`selfif.reward.InstructionReward`; when given, every row's constraints
    are checked against it and a bad row raises :class:`InputError` with its line number.
    """
    path = Path(path)
    rows: list[dict[str, Any]] = []
    if not path.exists():
        raise InputError(path, None, "curriculum file does not exist (make it with `selfif synth`)")
    for line, rec in _numbered(path):
        if rec.level < min_level:
            continue
        if len(rec.constraints) != rec.level:
            raise InputError(path, line, f"level {rec.level} row has {len(rec.constraints)} constraints (expected {rec.level})")
        cons = [c.model_dump(mode="json") for c in rec.constraints]
        if reward is not None:
            try:
                reward.validate(cons)
            except ValueError as e:
                raise InputError(path, line, str(e)) from None
        rows.append(
            {
                "prompt": chat_messages(rec.prompt),
                "constraints": json.dumps(cons, ensure_ascii=False),
                "level": rec.level,
                "seed_id": rec.seed_id,
                "row": len(rows),
            }
        )
    if not rows:
        raise InputError(path, None, f"no curriculum rows with level >= {min_level} (nothing to train on)")
    return rows


def _numbered(path: Path):
    """(line number, record) pairs: iter_jsonl skips blank lines, so count them ourselves."""
    lines = [i for i, ln in enumerate(path.read_text(encoding="utf-8").split("\n"), 1) if ln.strip()]
    for line, rec in zip(lines, iter_jsonl(path, CurriculumRecord), strict=True):
        yield line, rec


def build_dataset(rows: list[dict[str, Any]]):
    """A ``datasets.Dataset`` over the training rows."""
    from datasets import Dataset

    return Dataset.from_list(rows)


def level_counts(rows: list[dict[str, Any]]) -> dict[int, int]:
    return dict(sorted(Counter(r["level"] for r in rows).items()))
