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
from typing import Any

from selfif.data.curriculum import read_curriculum as read_curriculum_rows
from selfif.io import InputError
from selfif.models import chat_messages


def read_curriculum(path: str | os.PathLike, reward=None, min_level: int = 1) -> list[dict[str, Any]]:
    """Training rows from ``curriculum.jsonl`` (levels >= ``min_level``), validated.

    Rows are read and checked by :func:`selfif.data.curriculum.read_curriculum`. ``reward``: an
    :class:`selfif.reward.InstructionReward`; when given, every row's constraints are also
    checked against it (e.g. soft constraints need a reward model), at the row's line.
    """
    check = None
    if reward is not None:
        def check(rec) -> None:
            reward.validate([c.model_dump(mode="json") for c in rec.constraints])

    rows: list[dict[str, Any]] = []
    for rec in read_curriculum_rows(path, check=check):
        if rec.level < min_level:
            continue
        rows.append(
            {
                "prompt": chat_messages(rec.prompt),
                "constraints": json.dumps([c.model_dump(mode="json") for c in rec.constraints], ensure_ascii=False),
                "level": rec.level,
                "seed_id": rec.seed_id,
                "row": len(rows),
            }
        )
    if not rows:
        raise InputError(path, None, f"no curriculum rows with level >= {min_level} (nothing to train on)")
    return rows


def build_dataset(rows: list[dict[str, Any]]):
    """A ``datasets.Dataset`` over the training rows."""
    from datasets import Dataset

    return Dataset.from_list(rows)


def level_counts(rows: list[dict[str, Any]]) -> dict[int, int]:
    return dict(sorted(Counter(r["level"] for r in rows).items()))
