"""How often the contrast pseudo-labels agree with verifier truth, for hard constraints.

The paper's labels assume the response to L_k follows c_k and the response to L_{k-1} does not.
For hard constraints we can check both sides with the code verifier, so per type and per level:

- ``pos_precision``: share of positives (responses to L_k) that the verifier passes;
- ``neg_precision``: share of negatives (responses to L_{k-1}) that the verifier fails;
- ``accuracy``: share of all pseudo-labels the verifier agrees with (the two above, weighted);
- ``pair_ordering``: share of (positive, negative) couples where the positive passes and the negative fails;
- ``asked_pass_rate`` / ``not_asked_pass_rate``: for each c_k, pass rate of the chain's responses at
  levels >= k (asked) vs levels < k (not asked) under c_k's kwargs; ``lift`` is the difference.

Types with ``accuracy < near_chance`` are flagged (``per_type[id]["near_chance"] = true`` and the
``flagged`` list). Pairs carry no weight field: the reward-model stage reads
``audit["per_type"][id]["accuracy"]`` and drops types below its ``min_audit_accuracy``.
The audit always measures the *contrast* assumption, whatever ``hard_labels`` the pairs used.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from selfif.data.curriculum import CurriculumRow
from selfif.io import InputError, atomic_write_json
from selfif.layout import AUDIT, RESPONSES
from selfif.labeling.label import ResponseRow
from selfif.labeling.pairs import chains, verifier_verdict

NEAR_CHANCE = 0.6


class _Tally:
    def __init__(self) -> None:
        self.pos: list[int] = []  # verifier verdict on positives
        self.neg: list[int] = []  # verifier verdict on negatives
        self.couples = 0
        self.ordered = 0
        self.asked: list[int] = []
        self.not_asked: list[int] = []

    def summary(self, near_chance: float | None = None) -> dict:
        def rate(xs: list[int]) -> float | None:
            return round(sum(xs) / len(xs), 4) if xs else None

        n = len(self.pos) + len(self.neg)
        agree = sum(self.pos) + sum(1 - v for v in self.neg)
        out = {
            "n_pos": len(self.pos),
            "n_neg": len(self.neg),
            "pos_precision": rate(self.pos),
            "neg_precision": rate([1 - v for v in self.neg]),
            "accuracy": round(agree / n, 4) if n else None,
            "pair_ordering": round(self.ordered / self.couples, 4) if self.couples else None,
            "asked_pass_rate": rate(self.asked),
            "not_asked_pass_rate": rate(self.not_asked),
            "n_asked": len(self.asked),
            "n_not_asked": len(self.not_asked),
        }
        a, b = out["asked_pass_rate"], out["not_asked_pass_rate"]
        out["lift"] = round(a - b, 4) if a is not None and b is not None else None
        if near_chance is not None:
            out["near_chance"] = out["accuracy"] is not None and out["accuracy"] < near_chance
        return out


def audit(curriculum: list[CurriculumRow], responses: list[ResponseRow], near_chance: float = NEAR_CHANCE,
          responses_path: str = RESPONSES) -> dict:
    """The audit report (see module docstring); soft constraints are only counted."""
    by_key = {(r.seed_id, r.level): r for r in responses}
    per_type: dict[str, _Tally] = defaultdict(_Tally)
    per_level: dict[int, _Tally] = defaultdict(_Tally)
    overall = _Tally()
    n_soft = 0
    for seed_id, levels in chains(curriculum).items():
        top = max(levels)
        for lv in levels:
            if (seed_id, lv) not in by_key:
                raise InputError(responses_path, None, f"no response for curriculum row ({seed_id!r}, {lv}); run `selfif label` to finish")
        for k in range(1, top + 1):
            if k not in levels or k - 1 not in levels:
                continue
            c = levels[k].constraints[k - 1]
            if c.kind != "hard":
                n_soft += 1
                continue
            verdicts = {j: verifier_verdict(c, by_key[(seed_id, j)].response, by_key[(seed_id, j)].prompt) for j in levels}
            vp, vn = verdicts[k], verdicts[k - 1]
            for t in (per_type[c.id], per_level[k], overall):
                t.pos.append(vp)
                t.neg.append(vn)
                t.couples += 1
                t.ordered += int(vp == 1 and vn == 0)
                t.asked.extend(v for j, v in verdicts.items() if j >= k)
                t.not_asked.extend(v for j, v in verdicts.items() if j < k)
    types = {tid: per_type[tid].summary(near_chance) for tid in sorted(per_type)}
    return {
        "near_chance_threshold": near_chance,
        "overall": overall.summary(),
        "per_type": types,
        "per_level": {str(k): per_level[k].summary() for k in sorted(per_level)},
        "flagged": [tid for tid, s in types.items() if s["near_chance"]],
        "n_hard_constraints": len(overall.pos),
        "n_soft_constraints": n_soft,
        "how_to_use": "reward-model stage: drop or down-weight pairs of types whose per_type[id].accuracy is low "
                      "(RMConfig.min_audit_accuracy); soft types have no verifier truth and are not audited",
    }


def write_audit(report: dict, out_dir: str | Path) -> Path:
    return atomic_write_json(Path(out_dir) / AUDIT, report)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def render_table(report: dict) -> None:
    """Print the per-type and per-level tables (rich; plain text when not a terminal)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # logs and pipes: do not squeeze type ids into 80 columns
        console = Console(width=160)
    cols = ("n pairs", "pos prec", "neg prec", "accuracy", "ordering", "asked pass", "not asked", "lift")

    def row(s: dict) -> list[str]:
        return [str(s["n_pos"] + s["n_neg"]), _fmt(s["pos_precision"]), _fmt(s["neg_precision"]), _fmt(s["accuracy"]),
                _fmt(s["pair_ordering"]), _fmt(s["asked_pass_rate"]), _fmt(s["not_asked_pass_rate"]), _fmt(s["lift"])]

    t = Table(title=f"pseudo-label audit per hard type (flag: accuracy < {report['near_chance_threshold']})")
    t.add_column("type")
    for c in (*cols, "flag"):
        t.add_column(c, justify="right")
    for tid, s in report["per_type"].items():
        t.add_row(tid, *row(s), "NEAR CHANCE" if s["near_chance"] else "", style="red" if s["near_chance"] else None)
    t.add_row("ALL", *row(report["overall"]), "", style="bold")
    console.print(t)
    lv = Table(title="per level k (constraint c_k: response to L_k vs L_{k-1})")
    lv.add_column("k")
    for c in cols:
        lv.add_column(c, justify="right")
    for k, s in report["per_level"].items():
        lv.add_row(k, *row(s))
    console.print(lv)
    console.print(f"hard constraints audited: {report['n_hard_constraints']}, soft (no truth): {report['n_soft_constraints']}; "
                  f"flagged: {', '.join(report['flagged']) or 'none'}")
