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

import itertools
import logging
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from selfif.eval.benchmark import BenchmarkRow
from selfif.io import json_safe
from selfif.repetition import loop_summary

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
                errors.append({"key": row.key, "instruction_id": iid, "kwargs": json_safe(kw), "error": _first_line(e)})
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
    workers: int | None = None,
) -> Judged:
    """Judge responses against rows (``workers``: processes; None = every core this process has).

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
    results, errors = _judge_pairs(pairs, progress, workers)
    return Judged(results, errors, missing)


PARALLEL_MIN_ROWS = 256  # below this a pool's start-up costs more than it saves
_CHUNK = 64
_SHARED: list[tuple[BenchmarkRow, str]] = []  # the rows, inherited by forked workers (nothing pickled in)


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _judge_chunk(bounds: tuple[int, int]) -> tuple[list[tuple[list[bool], list[bool]]], list[dict[str, Any]]]:
    errors: list[dict[str, Any]] = []
    out = []
    for row, resp in _SHARED[bounds[0] : bounds[1]]:
        r = judge_row(row, resp, errors)
        out.append((r.strict, r.loose))
    return out, errors


def _judge_pairs(pairs: list[tuple[BenchmarkRow, str]], progress: bool, workers: int | None) -> tuple[list[RowResult], list[dict[str, Any]]]:
    """Verdicts in row order, over a pool of forked processes when it pays (verifiers are pure
    Python, so threads would not run in parallel). Chunks are judged and merged in order, so the
    results and the error list are exactly what the serial loop gives."""
    import multiprocessing as mp

    workers = default_workers() if workers is None else workers
    bar = tqdm(total=len(pairs), desc="score", unit="row", disable=not progress)
    if workers <= 1 or len(pairs) < PARALLEL_MIN_ROWS or "fork" not in mp.get_all_start_methods():
        errors: list[dict[str, Any]] = []
        results = []
        for r, resp in pairs:
            results.append(judge_row(r, resp, errors))
            bar.update()
        bar.close()
        return results, errors
    global _SHARED
    _SHARED = pairs
    bounds = [(i, min(i + _CHUNK, len(pairs))) for i in range(0, len(pairs), _CHUNK)]
    results, errors = [], []
    try:
        # The first chunk is judged here, before forking: the verifiers' lazy imports and models
        # (NLTK, Punkt, language profiles) then load once and the workers inherit them, instead
        # of every worker paying seconds for them.
        first = _judge_chunk(bounds[0])
        with mp.get_context("fork").Pool(workers) as pool:
            chunks = pool.imap(_judge_chunk, bounds[1:])
            for (lo, _), (verdicts, errs) in zip(bounds, itertools.chain([first], chunks)):
                results.extend(RowResult(pairs[lo + j][0], pairs[lo + j][1], s, l) for j, (s, l) in enumerate(verdicts))
                errors.extend(errs)
                bar.update(len(verdicts))
    finally:
        _SHARED = []
        bar.close()
    return results, errors


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
        "looping": loop_summary([r.response for r in res], [all(r.strict) for r in res]),
        "quality": _quality(res),
        "n_errors": len(judged.errors),
        "errors": judged.errors,
        "n_missing": len(judged.missing_keys),
        "missing_keys": judged.missing_keys,
    }


def _quality(res: Sequence[RowResult]) -> dict[str, Any]:
    """``scores["quality"]``: what the answers look like beside their verdicts (:mod:`selfif.eval.quality`)."""
    from selfif.eval import quality

    rows = [r.row for r in res]
    return quality.summary(quality.assess_rows(rows, [r.response for r in res]), [r.prompt for r in rows])


def score_responses(
    responses: Sequence[str] | Mapping[str, str],
    benchmark_rows: Sequence[BenchmarkRow | Mapping[str, Any]],
    progress: bool = False,
) -> dict[str, Any]:
    """Scores of responses on benchmark rows (see :func:`judge` for the two ``responses`` forms)."""
    return aggregate(judge(responses, benchmark_rows, progress=progress))



# ---------------------------------------------------------------- reading scores.json back

_Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=True)]


class _Accuracies(BaseModel):
    model_config = ConfigDict(extra="allow")
    strict: _Fraction
    loose: _Fraction
    count: int = Field(ge=0, strict=True)


class ScoresFile(BaseModel):
    """``scores.json`` as :func:`aggregate` writes it, as far as readers use it: the four overall
    accuracies, the counts and the per-instruction table (other keys are kept as they are)."""

    model_config = ConfigDict(extra="allow")
    prompt_level_strict: _Fraction
    prompt_level_loose: _Fraction
    instruction_level_strict: _Fraction
    instruction_level_loose: _Fraction
    n_prompts: int = Field(ge=0, strict=True)
    n_instructions: int = Field(ge=0, strict=True)
    per_instruction: dict[str, _Accuracies] = {}


def read_scores(path: str | os.PathLike) -> dict[str, Any]:
    """A ``scores.json`` validated on read: ``[1]`` or ``"prompt_level_strict": "high"`` is a
    located error naming the field, not a crash in whatever formats the value later."""
    from selfif.io import InputError, read_json, validate_row

    data = read_json(path)
    if not isinstance(data, dict):
        raise InputError(path, None, f"expected a JSON object (the scores), got {type(data).__name__}")
    validate_row(ScoresFile, data, path, None)
    return data
