"""Pseudo-label pairs from one response per level (the paper's self-supervised labels).

For constraint c_k of a chain, the response to L_k (which asked for c_k) is the positive and the
response to L_{k-1} (identical instruction minus c_k) is the negative. No judge is involved; the
assumption is only that a model tends to follow a constraint more when it is asked to.

Hard constraints also get ``verifier_label`` (the code checker's verdict on the same response and
kwargs), which the audit uses to measure how often the contrast assumption holds, and which
``hard_labels="verifier"`` uses as the label itself.

With ``repair_positives`` a hard c_k also gets a third pair: the L_{k-1} response (which was not
asked for c_k) repaired by code for c_k (``registry.repair``), labelled 1 with source ``repair``.
The contrastive labels sit at chance on the types the policy never follows (the audit shows it); a repair
is a positive that differs from a real negative only in what the constraint asks for.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict

from selfif.constraints.base import ConstraintInstance
from selfif.data.curriculum import CurriculumRow
from selfif.io import InputError
from selfif.labeling.label import ResponseRow
from selfif.layout import RESPONSES


class Pair(BaseModel):
    """One line of ``pairs.jsonl`` (docs/artifacts.md)."""

    model_config = ConfigDict(extra="forbid")
    pair_id: str
    seed_id: str
    k: int
    constraint: ConstraintInstance
    response: str
    instruction: str
    label: Literal[0, 1]
    source: Literal["contrast", "verifier", "repair"]
    verifier_label: Literal[0, 1] | None


def verifier_verdict(c: ConstraintInstance, response: str, instruction: str) -> int | None:
    """1/0 from the hard type's checker, ``None`` for soft constraints (no truth available)."""
    if c.kind != "hard":
        return None
    from selfif.constraints import registry

    return int(registry.verify(c.id, response, c.kwargs, prompt=instruction))


def chains(curriculum: Iterable[CurriculumRow]) -> dict[str, dict[int, CurriculumRow]]:
    """Curriculum rows grouped by seed, keyed by level."""
    out: dict[str, dict[int, CurriculumRow]] = defaultdict(dict)
    for r in curriculum:
        out[r.seed_id][r.level] = r
    return out


def build_pairs(
    curriculum: list[CurriculumRow],
    responses: list[ResponseRow],
    hard_labels: Literal["contrast", "verifier"] = "contrast",
    responses_path: str = RESPONSES,
    repair_positives: bool = False,
) -> list[Pair]:
    """Two pairs (positive, negative) per constraint c_k with responses at L_k and L_{k-1}, and
    with ``repair_positives`` a repaired positive for hard c_k (module docstring) where the
    negative fails c_k and has a repair.

    Ordered by seed (curriculum order) then k, positive first, repair last.
    """
    by_key = {(r.seed_id, r.level): r for r in responses}
    rows_by_seed = chains(curriculum)
    missing = [key for seed, lv in rows_by_seed.items() for key in ((seed, k) for k in lv) if key not in by_key]
    if missing:
        raise InputError(responses_path, None, f"{len(missing)} curriculum rows have no response (first: {missing[0]}); run `selfif label` to finish")
    pairs: list[Pair] = []
    for seed_id, levels in rows_by_seed.items():
        for k in sorted(levels):
            if k == 0 or k - 1 not in levels:
                continue
            c = levels[k].constraints[k - 1]
            for role, level, label in (("pos", k, 1), ("neg", k - 1, 0)):
                resp = by_key[(seed_id, level)]
                truth = verifier_verdict(c, resp.response, resp.prompt)
                use_verifier = hard_labels == "verifier" and truth is not None
                pairs.append(Pair(
                    pair_id=f"{seed_id}:k{k}:{role}", seed_id=seed_id, k=k, constraint=c,
                    response=resp.response, instruction=resp.prompt,
                    label=truth if use_verifier else label,
                    source="verifier" if use_verifier else "contrast",
                    verifier_label=truth,
                ))
            if repair_positives and c.kind == "hard":
                fixed = repaired_positive(c, by_key[(seed_id, k - 1)].response, levels[k].prompt)
                if fixed is not None:
                    pairs.append(Pair(
                        pair_id=f"{seed_id}:k{k}:repair", seed_id=seed_id, k=k, constraint=c, response=fixed,
                        instruction=levels[k].prompt, label=1, source="repair", verifier_label=1,
                    ))
    return pairs


def repaired_positive(c: ConstraintInstance, negative: str, instruction: str) -> str | None:
    """The negative repaired for ``c`` (strictly verified), or ``None`` when it already follows
    ``c`` (the repair would be the negative itself) or has no honest repair."""
    from selfif.constraints import registry

    if registry.verify(c.id, negative, c.kwargs, prompt=instruction):
        return None
    return registry.repair(c.id, negative, c.kwargs, instruction)
