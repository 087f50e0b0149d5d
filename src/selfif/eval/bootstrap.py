"""Paired bootstrap 95 % intervals for before/after IFEval deltas.

Why: a 40-prompt evaluation moves by several points between two checkpoints that learned nothing
(one prompt is 2.5 pp), so a delta without an interval cannot tell a gain from noise.

Method. Both evaluations answer the *same* benchmark prompts, so the unit of resampling is the
prompt, paired: one bootstrap replicate draws n prompts with replacement and evaluates the
before/after difference on that one draw. Instruction-level accuracies are ratios (followed /
instructions) over the drawn prompts, so instructions are resampled in clusters by prompt, never
one by one (the instructions of one response are not independent). Per-type deltas use the same
draws. Intervals are percentile intervals; all metrics share one resampling matrix, drawn from a
fixed seed, so a comparison is deterministic and reproducible from the two directories alone.

We use numpy rather than ``scipy.stats.bootstrap``: scipy's paired mode resamples observation
indices too, but clustered ratio statistics for ~30 metrics at once would need one call (and one
set of draws) per metric; one ``counts @ per_prompt_values`` matrix product gives every metric
from the same draws in milliseconds.

Pairing key. The per-row home of verdicts is the official ``eval_results_{strict,loose}.jsonl``
pair, which identifies a row by its prompt text (the official matching rule; benchmark prompts are
unique, :func:`selfif.eval.benchmark.load_benchmark` enforces it). Two evaluations whose prompt
sets differ, or whose shared prompt carries different instruction ids, are not paired samples and
are refused with :class:`ComparisonError` instead of being compared on the overlap.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from selfif.io import InputError, iter_jsonl_rows
from selfif.layout import EVAL_RESULTS_LOOSE, EVAL_RESULTS_STRICT
from selfif.repetition import ends_in_loop

RESAMPLES = 5000
CONFIDENCE = 0.95
SEED = 0
_MODES = ("strict", "loose")
_CHUNK_CELLS = 2_000_000  # bounds the resampling matrix's memory (~16 MB per chunk)


class ComparisonError(InputError):
    """Two evaluations that are not paired samples of the same benchmark rows (an input error:
    the CLIs print it as one line, exit 2, naming what was compared)."""

    def __init__(self, message: str, where: str | os.PathLike = "paired comparison"):
        super().__init__(where, None, message)


@dataclass(frozen=True)
class PromptVerdicts:
    """One prompt's instruction ids with their strict and loose verdicts."""

    instruction_ids: tuple[str, ...]
    strict: tuple[bool, ...]
    loose: tuple[bool, ...]
    looping: bool = False  # the answer ends in a repetition loop (selfif.repetition)


class _OfficialRow(BaseModel):
    model_config = ConfigDict(extra="ignore")

    prompt: str
    instruction_id_list: list[str]
    follow_instruction_list: list[bool]
    response: str = ""


def _read_official(path: Path) -> dict[str, _OfficialRow]:
    rows: dict[str, _OfficialRow] = {}
    for line, row in iter_jsonl_rows(path, _OfficialRow):
        if len(row.follow_instruction_list) != len(row.instruction_id_list):
            raise InputError(path, line, f"{len(row.instruction_id_list)} instruction ids but "
                                         f"{len(row.follow_instruction_list)} verdicts")
        if row.prompt in rows:
            raise InputError(path, line, "prompt scored twice; rows are paired by prompt, so each must be unique")
        rows[row.prompt] = row
    return rows


def read_verdicts(eval_dir: str | os.PathLike) -> dict[str, PromptVerdicts]:
    """prompt -> verdicts from an evaluation directory's official per-row files."""
    d = Path(eval_dir)
    strict, loose = _read_official(d / EVAL_RESULTS_STRICT), _read_official(d / EVAL_RESULTS_LOOSE)
    if strict.keys() != loose.keys():
        raise InputError(d, None, f"{EVAL_RESULTS_STRICT} and {EVAL_RESULTS_LOOSE} list different prompts")
    return {
        p: PromptVerdicts(tuple(s.instruction_id_list), tuple(s.follow_instruction_list), tuple(loose[p].follow_instruction_list),
                          ends_in_loop(s.response))
        for p, s in strict.items()
    }


def verdicts_from_results(results: Iterable[Any]) -> dict[str, PromptVerdicts]:
    """prompt -> verdicts from in-memory :class:`selfif.eval.scoring.RowResult` objects."""
    return {r.row.prompt: PromptVerdicts(tuple(r.row.instruction_id_list), tuple(r.strict), tuple(r.loose), ends_in_loop(r.response))
            for r in results}


def _paired_keys(before: Mapping[str, PromptVerdicts], after: Mapping[str, PromptVerdicts]) -> list[str]:
    only_b, only_a = before.keys() - after.keys(), after.keys() - before.keys()
    if only_b or only_a:
        example = next(iter(sorted(only_b or only_a)))
        raise ComparisonError(
            f"not the same prompts: {len(only_b)} only in before, {len(only_a)} only in after "
            f"(e.g. {example[:60]!r}); a paired comparison needs both evaluations on the same benchmark rows"
        )
    if not before:
        raise ComparisonError("no prompts to compare")
    keys = sorted(before)
    for k in keys:
        if before[k].instruction_ids != after[k].instruction_ids:
            raise ComparisonError(f"prompt {k[:60]!r} has instruction ids {list(before[k].instruction_ids)} before "
                                  f"but {list(after[k].instruction_ids)} after; not the same benchmark")
    return keys


def _resample_counts(n: int, resamples: int, seed: int) -> Iterable[np.ndarray]:
    """Chunks of a (resamples x n) matrix: how often each prompt was drawn in each replicate."""
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_CELLS // n)
    for start in range(0, resamples, chunk):
        b = min(chunk, resamples - start)
        idx = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        yield np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(np.broadcast_shapes(num.shape, den.shape), np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _entry(before: float, after: float, reps: np.ndarray, confidence: float) -> dict[str, Any]:
    tail = 100 * (1 - confidence) / 2
    finite = reps[np.isfinite(reps)]
    lo, hi = (np.percentile(finite, [tail, 100 - tail]) if finite.size else (np.nan, np.nan))

    def r(x: float) -> float | None:  # JSON has no NaN: an undefined value (no instructions drawn) is null
        return None if not np.isfinite(x) else round(float(x), 6)

    return {"before": r(before), "after": r(after), "delta": r(after - before), "low": r(lo), "high": r(hi),
            "excludes_zero": bool(np.isfinite(lo) and (lo > 0 or hi < 0))}


def _tabulate(keys: list[str], before: Mapping[str, PromptVerdicts], after: Mapping[str, PromptVerdicts]) -> tuple:
    """Per-prompt arrays: type -> column, instructions per type (n x T), prompt passed (n,) and
    instructions followed per type (n x T), the last two per (side, mode)."""
    n = len(keys)
    col = {t: j for j, t in enumerate(sorted({t for k in keys for t in before[k].instruction_ids}))}
    count = np.zeros((n, len(col)))
    followed = {(side, m): np.zeros((n, len(col))) for side in ("before", "after") for m in _MODES}
    passed = {(side, m): np.zeros(n) for side in ("before", "after") for m in _MODES}
    for i, k in enumerate(keys):
        for t in before[k].instruction_ids:
            count[i, col[t]] += 1
        for side, v in (("before", before[k]), ("after", after[k])):
            for m in _MODES:
                verdicts = getattr(v, m)
                passed[side, m][i] = all(verdicts)
                for t, ok in zip(v.instruction_ids, verdicts):
                    followed[side, m][i, col[t]] += ok
    return col, count, passed, followed


def paired_bootstrap(
    before: Mapping[str, PromptVerdicts],
    after: Mapping[str, PromptVerdicts],
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
) -> dict[str, Any]:
    """Deltas (after - before) with paired bootstrap percentile intervals, overall and per instruction id.

    Returns ``{"method", "confidence", "resamples", "seed", "n_prompts", "n_instructions",
    "overall": {metric: entry}, "per_instruction": {id: {"count", "n_prompts", "strict": entry,
    "loose": entry}}}`` where an entry is ``{"before", "after", "delta", "low", "high",
    "excludes_zero"}`` (fractions in [0, 1]; ``low``/``high`` bound ``delta``), and ``"looping"``: the
    share of answers ending in a repetition loop, as an entry (:mod:`selfif.repetition`).
    """
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    keys = _paired_keys(before, after)
    n = len(keys)
    col, count, passed, followed = _tabulate(keys, before, after)
    k_row = count.sum(axis=1)
    # Per-prompt columns: [prompt pass s/l, instructions followed s/l, per-type followed s/l, counts]
    cols = {}
    for m in _MODES:
        cols[f"prompt_{m}"] = (passed["after", m] - passed["before", m])[:, None]
        cols[f"instr_{m}"] = (followed["after", m] - followed["before", m]).sum(axis=1)[:, None]
        cols[f"type_{m}"] = followed["after", m] - followed["before", m]
    looping = {side: np.array([v[k].looping for k in keys], dtype=np.float64) for side, v in (("before", before), ("after", after))}
    cols["looping"] = (looping["after"] - looping["before"])[:, None]
    cols["k_row"], cols["count"] = k_row[:, None], count
    names = list(cols)
    values = np.concatenate([cols[c] for c in names], axis=1)
    bounds = np.cumsum([0] + [cols[c].shape[1] for c in names])
    sums = [w @ values for w in _resample_counts(n, resamples, seed)]
    reps_all = np.concatenate(sums, axis=0)
    reps = {c: reps_all[:, bounds[j]:bounds[j + 1]] for j, c in enumerate(names)}

    overall: dict[str, Any] = {}
    per_type: dict[str, Any] = {t: {"count": int(count[:, j].sum()), "n_prompts": int((count[:, j] > 0).sum())} for t, j in col.items()}
    for m in _MODES:
        overall[f"prompt_level_{m}"] = _entry(passed["before", m].mean(), passed["after", m].mean(), reps[f"prompt_{m}"][:, 0] / n, confidence)
        instr_b = followed["before", m].sum() / k_row.sum() if k_row.sum() else np.nan
        instr_a = followed["after", m].sum() / k_row.sum() if k_row.sum() else np.nan
        overall[f"instruction_level_{m}"] = _entry(instr_b, instr_a, _ratio(reps[f"instr_{m}"][:, 0], reps["k_row"][:, 0]), confidence)
        type_reps = _ratio(reps[f"type_{m}"], reps["count"])
        for t, j in col.items():
            tot = count[:, j].sum()
            per_type[t][m] = _entry(followed["before", m][:, j].sum() / tot, followed["after", m][:, j].sum() / tot, type_reps[:, j], confidence)
    order = ("prompt_level_strict", "prompt_level_loose", "instruction_level_strict", "instruction_level_loose")
    return {
        "method": "paired bootstrap over prompts (instructions clustered by prompt), percentile interval",
        "confidence": confidence,
        "resamples": resamples,
        "seed": seed,
        "n_prompts": n,
        "n_instructions": int(k_row.sum()),
        "overall": {k: overall[k] for k in order},
        "per_instruction": per_type,
        "looping": _entry(looping["before"].mean(), looping["after"].mean(), reps["looping"][:, 0] / n, confidence),
    }


def compare_dirs(before_dir: str | os.PathLike, after_dir: str | os.PathLike, **kw: Any) -> dict[str, Any]:
    """:func:`paired_bootstrap` of two evaluation directories, with their paths recorded."""
    return compare_verdicts(read_verdicts(before_dir), read_verdicts(after_dir), before_dir, after_dir, **kw)


def compare_verdicts(
    before: Mapping[str, PromptVerdicts], after: Mapping[str, PromptVerdicts], before_dir: str | os.PathLike,
    after_dir: str | os.PathLike, **kw: Any,
) -> dict[str, Any]:
    """The comparison record (``scores.json["comparison"]``, ``compare.json``): paths + bootstrap."""
    try:
        out = paired_bootstrap(before, after, **kw)
    except ComparisonError as e:
        raise ComparisonError(e.message, f"{before_dir} vs {after_dir}") from None
    return {"before": str(before_dir), "after": str(after_dir), **out}


def load_baseline(baseline_dir: str | os.PathLike, rows: Iterable[Any]) -> dict[str, PromptVerdicts]:
    """Verdicts of a baseline evaluation, checked up front to cover exactly ``rows``' prompts, so an
    evaluation is refused before it spends an hour generating answers that cannot be paired."""
    base = read_verdicts(baseline_dir)
    prompts = {r.prompt for r in rows}
    if prompts != base.keys():
        raise ComparisonError(
            f"baseline scored {len(base)} prompts, this evaluation has {len(prompts)} "
            f"({len(prompts - base.keys())} not in the baseline); evaluate both on the same benchmark rows",
            baseline_dir,
        )
    return base
