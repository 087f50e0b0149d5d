"""IFEval scoring, aggregated exactly as the official scorer does.

Per row and per instruction we ask the constraint registry for a strict and a loose verdict
(:func:`selfif.constraints.registry.verify`, which implements the official checkers and the
official loose variants). Aggregation follows Google's ``evaluation_lib``:

- prompt-level accuracy = mean over rows of ``follow_all_instructions``;
- instruction-level accuracy = instructions followed / instructions in total;
- per instruction id ("tier-1") and per category ("tier-0", the part before ``:``):
  followed / count.

Verifier errors. A row whose kwargs do not fit its instruction (the registry raises
``ConstraintError``) would crash the official scorer; one bad benchmark row should not cost a
whole evaluation, but it must not vanish either. We count that instruction as *not followed* and
record it in ``errors`` (row key, instruction id, kwargs, message), which ``scores.json`` and
``report.md`` show and the CLI prints as a warning. Any *other* exception (a verifier bug, a
missing resource such as a tokenizer model) is not a property of one row and would silently
skew every score, so it stops scoring with :class:`ScoringError` naming the row; generated
responses are already on disk, so a rerun after the fix only re-scores.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from selfif.eval.benchmark import BenchmarkRow

log = logging.getLogger(__name__)


@dataclass
class RowResult:
    """Strict and loose verdicts for one benchmark row."""

    row: BenchmarkRow
    response: str
    strict: list[bool]
    loose: list[bool]

    def official(self, loose: bool) -> dict[str, Any]:
        """The row in the official ``eval_results_{strict,loose}.jsonl`` format (same field order)."""
        follow = self.loose if loose else self.strict
        return {
            "instruction_id_list": list(self.row.instruction_id_list),
            "prompt": self.row.prompt,
            "response": self.response,
            "follow_all_instructions": all(follow),
            "follow_instruction_list": list(follow),
        }


@dataclass
class Judged:
    """Everything scoring produced: per-row verdicts, verifier errors, rows with no response."""

    results: list[RowResult]
    errors: list[dict[str, Any]] = field(default_factory=list)
    missing_keys: list[int | str] = field(default_factory=list)


class ScoringError(RuntimeError):
    """A verifier failed for a reason other than bad kwargs (see the module docstring)."""


def _first_line(e: BaseException) -> str:
    """One readable line of an exception (NLTK's messages open with a row of asterisks)."""
    lines = [ln.strip() for ln in str(e).splitlines() if any(c.isalnum() for c in ln)]
    return f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__


def _verdict(iid: str, response: str, kwargs: dict, prompt: str, loose: bool) -> bool:
    from selfif.constraints import registry

    return bool(registry.verify(iid, response, kwargs, loose=loose, prompt=prompt))


def judge_row(row: BenchmarkRow, response: str, errors: list[dict[str, Any]] | None = None) -> RowResult:
    """Verdicts for one row; a ``ConstraintError`` counts as not followed and is appended to ``errors``."""
    from selfif.constraints.base import ConstraintError

    strict, loose = [], []
    for iid, kw in zip(row.instruction_id_list, row.kwargs):
        try:
            s = _verdict(iid, response, kw, row.prompt, loose=False)
            lo = _verdict(iid, response, kw, row.prompt, loose=True)
        except ConstraintError as e:
            s = lo = False
            if errors is not None:
                errors.append({"key": row.key, "instruction_id": iid, "kwargs": kw, "error": _first_line(e)})
            log.warning("row %s: %s rejected its kwargs (%s); counted as not followed", row.key, iid, _first_line(e))
        except Exception as e:  # noqa: BLE001 - re-raised with the row named
            raise ScoringError(f"benchmark row {row.key}: verifier {iid} failed: {_first_line(e)}") from e
        strict.append(s)
        loose.append(lo)
    return RowResult(row, response, strict, loose)


def _as_rows(benchmark_rows: Sequence[BenchmarkRow | Mapping[str, Any]]) -> list[BenchmarkRow]:
    return [r if isinstance(r, BenchmarkRow) else BenchmarkRow.model_validate(r) for r in benchmark_rows]


def judge(
    responses: Sequence[str] | Mapping[str, str],
    benchmark_rows: Sequence[BenchmarkRow | Mapping[str, Any]],
    progress: bool = True,
) -> Judged:
    """Judge responses against rows.

    ``responses`` is either a list aligned with ``benchmark_rows`` or a mapping prompt -> response
    (the official matching rule); rows whose prompt the mapping lacks are skipped and listed in
    ``missing_keys``.
    """
    rows = _as_rows(benchmark_rows)
    if isinstance(responses, Mapping):
        pairs = [(r, responses[r.prompt]) for r in rows if r.prompt in responses]
        missing = [r.key for r in rows if r.prompt not in responses]
    else:
        if len(responses) != len(rows):
            raise ValueError(f"got {len(responses)} responses for {len(rows)} benchmark rows")
        pairs, missing = list(zip(rows, responses)), []
    errors: list[dict[str, Any]] = []
    results = [judge_row(r, resp, errors) for r, resp in tqdm(pairs, desc="score", unit="row", disable=not progress)]
    return Judged(results, errors, missing)


def _acc(followed: int, total: int) -> float:
    return followed / total if total else 0.0


def aggregate(judged: Judged) -> dict[str, Any]:
    """The ``scores.json`` dict (fractions in [0, 1])."""
    res = judged.results
    n_instr = sum(len(r.strict) for r in res)
    per_id: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # strict, loose, count
    for r in res:
        for iid, s, lo in zip(r.row.instruction_id_list, r.strict, r.loose):
            c = per_id[iid]
            c[0] += s
            c[1] += lo
            c[2] += 1
    per_cat: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for iid, (s, lo, n) in per_id.items():
        c = per_cat[iid.split(":", 1)[0]]
        c[0] += s
        c[1] += lo
        c[2] += n

    def table(d: dict[str, list[int]]) -> dict[str, dict[str, float | int]]:
        return {k: {"strict": _acc(s, n), "loose": _acc(lo, n), "count": n} for k, (s, lo, n) in sorted(d.items())}

    return {
        "prompt_level_strict": _acc(sum(all(r.strict) for r in res), len(res)),
        "prompt_level_loose": _acc(sum(all(r.loose) for r in res), len(res)),
        "instruction_level_strict": _acc(sum(sum(r.strict) for r in res), n_instr),
        "instruction_level_loose": _acc(sum(sum(r.loose) for r in res), n_instr),
        "n_prompts": len(res),
        "n_instructions": n_instr,
        "per_instruction": table(per_id),
        "per_category": table(per_cat),
        "n_errors": len(judged.errors),
        "errors": judged.errors,
        "n_missing": len(judged.missing_keys),
        "missing_keys": judged.missing_keys,
    }


def score_responses(
    responses: Sequence[str] | Mapping[str, str],
    benchmark_rows: Sequence[BenchmarkRow | Mapping[str, Any]],
    progress: bool = False,
) -> dict[str, Any]:
    """Scores of responses on benchmark rows (see :func:`judge` for the two ``responses`` forms)."""
    return aggregate(judge(responses, benchmark_rows, progress=progress))
