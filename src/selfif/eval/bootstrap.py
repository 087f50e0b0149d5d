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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from selfif.io import InputError, iter_jsonl_rows
from selfif.layout import EVAL_RESULTS_LOOSE, EVAL_RESULTS_STRICT
from selfif.repetition import ends_in_loop

RESAMPLES = 5000
MAX_RESAMPLES = 100_000  # beyond this the interval does not move, while time and memory grow linearly
CONFIDENCE = 0.95
SEED = 0
MAX_SEED = 2**63 - 1  # numpy seeds are non-negative integers; this keeps a seed one JSON number
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
    response: str | None = field(default=None, compare=False, repr=False)  # the answer (for selfif.eval.quality)


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
    """prompt -> verdicts from an evaluation directory's official per-row files (refused when its
    completion record says they are not one complete write: :func:`selfif.io.check_complete`)."""
    from selfif.io import check_complete

    d = Path(eval_dir)
    check_complete(d)
    strict, loose = _read_official(d / EVAL_RESULTS_STRICT), _read_official(d / EVAL_RESULTS_LOOSE)
    if strict.keys() != loose.keys():
        raise InputError(d, None, f"{EVAL_RESULTS_STRICT} and {EVAL_RESULTS_LOOSE} list different prompts")
    return {
        p: PromptVerdicts(tuple(s.instruction_id_list), tuple(s.follow_instruction_list), tuple(loose[p].follow_instruction_list),
                          ends_in_loop(s.response), s.response)
        for p, s in strict.items()
    }


def verdicts_from_results(results: Iterable[Any]) -> dict[str, PromptVerdicts]:
    """prompt -> verdicts from in-memory :class:`selfif.eval.scoring.RowResult` objects."""
    return {r.row.prompt: PromptVerdicts(tuple(r.row.instruction_id_list), tuple(r.strict), tuple(r.loose), ends_in_loop(r.response),
                                         r.response)
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
    if not 1 <= resamples <= MAX_RESAMPLES:
        raise ValueError(f"resamples must be in [1, {MAX_RESAMPLES}], got {resamples}")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be in [0, {MAX_SEED}], got {seed}")
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
    """The comparison record (``scores.json["comparison"]``, ``compare.json``): paths + bootstrap,
    and ``"quality"`` (:func:`paired_quality`) when both sides carry their answers."""
    try:
        out = paired_bootstrap(before, after, **kw)
    except ComparisonError as e:
        raise ComparisonError(e.message, f"{before_dir} vs {after_dir}") from None
    keys = sorted(before)
    if all(v.response is not None for side in (before, after) for v in side.values()):
        from selfif.eval import quality

        per_side = [quality.assess(keys, [before[k].instruction_ids for k in keys], [side[k].response for k in keys])
                    for side in (before, after)]
        out["quality"] = paired_quality(*per_side, resamples=out["resamples"], seed=out["seed"], confidence=out["confidence"])
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


def delta_entry(before: float, after: float, reps: np.ndarray, confidence: float = CONFIDENCE) -> dict[str, Any]:
    """One delta with its percentile interval from bootstrap replicates of it (NaN replicates, where
    a draw held no prompt of the group, are left out): the entry format of every comparison."""
    return _entry(before, after, reps, confidence)


def resampled(sums: Mapping[str, np.ndarray], medians: Mapping[str, np.ndarray], *, resamples: int = RESAMPLES,
              seed: int = SEED) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Bootstrap replicates of per-prompt columns (each of length n, prompts in one order): the sum
    of each ``sums`` column and the median of each ``medians`` column over every replicate's draw.

    The draws are :func:`paired_bootstrap`'s for the same ``n`` and ``seed``, so other per-prompt
    metrics (:mod:`selfif.eval.quality`) get intervals from the very resamples the verdict deltas
    used. A median of a draw is read off the prompts sorted by value and the draw's cumulative
    counts, without materialising the drawn sample.
    """
    names, med_names = list(sums), list(medians)
    n = len(next(iter({**sums, **medians}.values())))
    values = np.stack([np.asarray(sums[c], float) for c in names], axis=1) if names else np.zeros((n, 0))
    order = {c: np.argsort(np.asarray(medians[c], float), kind="stable") for c in med_names}
    k1, k2 = (n + 1) // 2, n // 2 + 1  # 1-based ranks whose mean is the median (equal when n is odd)
    out_s: list[np.ndarray] = []
    out_m: dict[str, list[np.ndarray]] = {c: [] for c in med_names}
    for w in _resample_counts(n, resamples, seed):
        out_s.append(w @ values)
        for c in med_names:
            v = np.asarray(medians[c], float)[order[c]]
            cum = np.cumsum(w[:, order[c]], axis=1)
            out_m[c].append((v[np.argmax(cum >= k1, axis=1)] + v[np.argmax(cum >= k2, axis=1)]) / 2)
    s_all = np.concatenate(out_s, axis=0) if out_s else np.zeros((0, len(names)))
    return ({c: s_all[:, j] for j, c in enumerate(names)}, {c: np.concatenate(v) for c, v in out_m.items()})


def paired_quality(before: Sequence[Any], after: Sequence[Any], *, resamples: int = RESAMPLES, seed: int = SEED,
                   confidence: float = CONFIDENCE) -> dict[str, Any]:
    """Paired answer-quality differences (after - before) of two lists of
    :class:`selfif.eval.quality.AnswerQuality` over the same prompts in the same order, with
    percentile intervals from :func:`resampled` (the verdict deltas' draws for the same ``seed``).

    Returns ``{"words_median": entry, "length_ratio": {"median", "low", "high"}, "looping": entry,
    "copying": entry, "bleed": {format: entry + "unasked"}, "relevance": entry | None}``; entries
    as :func:`delta_entry` (shares are fractions, words are words).
    """
    from selfif.eval.quality import FORMAT_NAMES

    if len(before) != len(after) or not before:
        raise ValueError("quality comparison needs the same, non-empty list of prompts on both sides")
    n = len(before)
    wb = np.array([q.words for q in before], float)
    wa = np.array([q.words for q in after], float)
    ratio = (wa + 1) / (wb + 1)
    constrained = np.array([q.constrained for q in before], float)
    sums = {
        "looping": np.array([q.loop for q in after], float) - np.array([q.loop for q in before], float),
        "copying": (np.array([bool(q.copied) for q in after], float) - np.array([bool(q.copied) for q in before], float)) * constrained,
        "constrained": constrained,
        "n": np.ones(n),
    }
    for f in FORMAT_NAMES:
        un = np.array([f in q.unasked for q in before], float)
        sums[f"bleed:{f}"] = (np.array([f in q.formats for q in after], float) - np.array([f in q.formats for q in before], float)) * un
        sums[f"unasked:{f}"] = un
    has_rel = all(q.relevance is not None for q in (*before, *after))
    if has_rel:
        sums["relevance"] = np.array([q.relevance for q in after]) - np.array([q.relevance for q in before])
    medians = {"words_before": wb, "words_after": wa, "ratio": ratio}
    rep_sums, rep_medians = resampled(sums, medians, resamples=resamples, seed=seed)

    def ratio_of(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        out = np.full(num.shape, np.nan)
        np.divide(num, den, out=out, where=den > 0)
        return out

    def share_entry(flag_b: np.ndarray, flag_a: np.ndarray, mask: np.ndarray, key: str, den_key: str) -> dict[str, Any]:
        m = mask.sum()
        b = (flag_b * mask).sum() / m if m else np.nan
        a = (flag_a * mask).sum() / m if m else np.nan
        return delta_entry(b, a, ratio_of(rep_sums[key], rep_sums[den_key]), confidence)

    rep_n = rep_sums["n"]
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(rep_medians["ratio"], [tail, 100 - tail])
    out: dict[str, Any] = {
        "words_median": delta_entry(float(np.median(wb)), float(np.median(wa)), rep_medians["words_after"] - rep_medians["words_before"], confidence),
        "length_ratio": {"median": round(float(np.median(ratio)), 6), "low": round(float(lo), 6), "high": round(float(hi), 6)},
        "looping": delta_entry(np.mean([q.loop for q in before]), np.mean([q.loop for q in after]), rep_sums["looping"] / rep_n, confidence),
        "copying": share_entry(np.array([bool(q.copied) for q in before], float), np.array([bool(q.copied) for q in after], float),
                               constrained, "copying", "constrained"),
        "bleed": {},
        "relevance": None,
    }
    for f in FORMAT_NAMES:
        un = np.array([f in q.unasked for q in before], float)
        e = share_entry(np.array([f in q.formats for q in before], float), np.array([f in q.formats for q in after], float),
                        un, f"bleed:{f}", f"unasked:{f}")
        out["bleed"][f] = {**e, "unasked": int(un.sum())}
    if has_rel:
        out["relevance"] = delta_entry(np.mean([q.relevance for q in before]), np.mean([q.relevance for q in after]),
                                       rep_sums["relevance"] / rep_n, confidence)
    return out
