"""Reading pseudo-label pairs for the reward model: validation, audit filtering, seed-level split.

The split is by ``seed_id``: all pairs from one seed's constraint chain share instructions and
responses (level k's positive is level k+1's negative), so splitting pairs at random would leak
near-duplicates from train into validation and inflate the validation numbers. Assignment to
val is a hash of the seed id, so it is stable across runs, machines and file orderings.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from selfif.constraints.base import ConstraintError, ConstraintInstance
from selfif.io import InputError, iter_jsonl_rows, read_json

log = logging.getLogger(__name__)


class PairRecord(BaseModel):
    """One line of ``pairs.jsonl`` (see docs/artifacts.md)."""

    model_config = ConfigDict(extra="ignore")

    pair_id: str | None = None
    seed_id: str
    k: int | None = None
    constraint: ConstraintInstance
    response: str
    instruction: str = ""
    label: Literal[0, 1]
    source: str = "contrast"
    verifier_label: Literal[0, 1] | None = None


def load_pairs(path: str | Path) -> list[PairRecord]:
    """Read and validate ``pairs.jsonl``; bad lines raise :class:`InputError` with file:line.

    Every pair's constraint must be a registered type with valid kwargs: this runs before the
    backbone is loaded, so a bad file can never train (and replace) a checkpoint.
    """
    from selfif.data.curriculum import check_constraint

    pairs = []
    for lineno, p in iter_jsonl_rows(path, PairRecord):
        try:
            check_constraint(p.constraint)
        except ConstraintError as e:
            raise InputError(path, lineno, str(e)) from None
        pairs.append(p)
    if not pairs:
        raise InputError(path, None, "no pairs in file (expected pseudo-label pairs from `selfif label`)")
    return pairs


def load_audit(path: str | Path) -> dict[str, float]:
    """Per-type pseudo-label accuracy from ``audit.json`` (``["per_type"][id]["accuracy"]``)."""
    path = Path(path)
    data = read_json(path)
    per_type = data.get("per_type") if isinstance(data, dict) else None
    if not isinstance(per_type, dict):
        raise InputError(path, None, 'expected an object with a "per_type" mapping {type id: {"accuracy": ...}}')
    out: dict[str, float] = {}
    for tid, stats in per_type.items():
        acc = stats.get("accuracy") if isinstance(stats, dict) else None
        if acc is None:
            continue
        if isinstance(acc, bool) or not isinstance(acc, (int, float)):
            raise InputError(path, None, f'per_type["{tid}"]["accuracy"] must be a number, got {acc!r:.40}')
        out[tid] = float(acc)
    return out


def filter_by_audit(pairs: list[PairRecord], accuracy: dict[str, float], min_accuracy: float) -> tuple[list[PairRecord], list[str]]:
    """Drop pairs of constraint types whose audited pseudo-label accuracy is below ``min_accuracy``.

    Types without an audit entry (soft types have no verifier truth) are kept.
    Returns the kept pairs and the sorted list of dropped type ids.
    """
    bad = {tid for tid, acc in accuracy.items() if acc < min_accuracy}
    kept = [p for p in pairs if p.constraint.id not in bad]
    dropped = sorted(bad & {p.constraint.id for p in pairs})
    if dropped:
        log.info("audit filter (accuracy < %.2f) dropped %d pairs of types %s", min_accuracy, len(pairs) - len(kept), dropped)
    return kept, dropped


def is_val_seed(seed_id: str, val_fraction: float, seed: int = 0) -> bool:
    """Stable pseudo-random assignment of a seed to the validation split.

    The hash is salted with a name of its own: other stages pick seeds by hashing ids too
    (the seed sampler keeps the ids with the smallest ``sha256(f"{seed}:{id}")``), and reusing
    that exact hash here would put every selected seed on the same side of the split.
    """
    h = hashlib.sha256(f"selfif-rm-split:{seed}:{seed_id}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64 < val_fraction


def split_by_seed(pairs: list[PairRecord], val_fraction: float, seed: int = 0) -> tuple[list[PairRecord], list[PairRecord]]:
    """Train/val split with every seed's pairs on one side only.

    With few seeds the hash can put all of them on one side; then one seed (the first in
    sorted order on the empty side's behalf) is moved, so both splits are non-empty whenever
    there are at least two seeds and ``val_fraction > 0``.
    """
    seeds = sorted({p.seed_id for p in pairs})
    val_seeds = {s for s in seeds if is_val_seed(s, val_fraction, seed)}
    if val_fraction > 0 and len(seeds) >= 2:
        if not val_seeds:
            val_seeds = {seeds[0]}
        elif len(val_seeds) == len(seeds):
            val_seeds.discard(seeds[0])
    train = [p for p in pairs if p.seed_id not in val_seeds]
    val = [p for p in pairs if p.seed_id in val_seeds]
    return train, val


def class_balance(pairs: list[PairRecord]) -> dict[str, float | int]:
    """Counts of positive/negative labels and the positive rate."""
    c = Counter(p.label for p in pairs)
    n = len(pairs)
    return {"n": n, "positive": c[1], "negative": c[0], "positive_rate": (c[1] / n) if n else 0.0}
