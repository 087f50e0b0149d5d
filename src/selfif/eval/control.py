"""The constraint-free control set: plain prompts, no constraints, the answer-quality metrics only.

Why: the paper's claim is that instruction-following training keeps the policy's general ability.
IFEval prompts all carry constraints, so a policy can trade its ordinary answers for format tricks
without IFEval noticing. The control set asks for nothing but the task: held-out seed prompts
(rows of a ``seeds.jsonl``, :class:`selfif.data.seeds.Seed`, that training never drew) answered
by the policy and measured with :mod:`selfif.eval.quality` (length, loops, every format counted as
unasked, relevance to the prompt), against a baseline's answers to the same prompts with the
paired intervals of :func:`selfif.eval.bootstrap.paired_quality`.

Output directory: ``responses.partial.jsonl`` / ``generation.json`` (resumable, as for IFEval),
``responses.jsonl`` (``{"prompt", "response"}``), ``scores.json`` (``{"n_prompts", "quality",
"meta"}``, plus ``"comparison"`` with a baseline) and ``report.md``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfif.config import GenerationConfig
from selfif.generation import SamplingParams
from selfif.io import InputError, atomic_write_json, atomic_write_text, iter_jsonl_rows, write_jsonl
from selfif.layout import RESPONSES, SCORES


@dataclass(frozen=True)
class ControlRow:
    """One control prompt: the seed's id and text (what the shared generator reads of a row)."""

    key: str
    prompt: str


def load_control(path: str | os.PathLike, limit: int | None = None) -> list[ControlRow]:
    """The first ``limit`` seeds of a ``seeds.jsonl``; a repeated prompt is an input error at its line."""
    from selfif.data.seeds import Seed

    rows: list[ControlRow] = []
    seen: dict[str, int] = {}
    for line, seed in iter_jsonl_rows(path, Seed):
        if seed.text in seen:
            raise InputError(path, line, f"prompt already listed at line {seen[seed.text]}; control prompts are paired by text")
        seen[seed.text] = line
        rows.append(ControlRow(seed.id, seed.text))
        if limit is not None and len(rows) >= limit:
            break
    if not rows:
        raise InputError(path, None, "no seed prompts")
    return rows


def _answers(eval_dir: Path) -> dict[str, str]:
    from selfif.generation.resumable import ResponseRow

    path = eval_dir / RESPONSES
    if not path.exists():
        raise InputError(path, None, "file does not exist (not a control evaluation directory)")
    return {r.prompt: r.response for _, r in iter_jsonl_rows(path, ResponseRow)}


def evaluate_control(
    model: str,
    seeds: str | os.PathLike,
    out_dir: str | os.PathLike,
    generation: GenerationConfig | SamplingParams | None = None,
    *,
    limit: int | None = None,
    baseline: str | os.PathLike | None = None,
    generator=None,
    progress: bool = True,
    restart: bool = False,
) -> dict[str, Any]:
    """Answer the control prompts with ``model`` (resumable), measure the answers, write the outputs.

    ``baseline``: an earlier control directory of the same prompts; ``scores.json`` then gets
    ``comparison`` (paired quality differences with intervals), checked before anything is generated.
    """
    from selfif.eval import quality
    from selfif.eval.bootstrap import ComparisonError, paired_quality
    from selfif.eval.ifeval import generate_responses
    from selfif.eval.report import quality_lines, quality_comparison_lines

    out = Path(out_dir)
    rows = load_control(seeds, limit)
    prompts = [r.prompt for r in rows]
    base = _answers(Path(baseline)) if baseline is not None else None
    if base is not None and set(base) != set(prompts):
        raise ComparisonError(f"baseline answered {len(base)} prompts, this control set has {len(prompts)} "
                              f"({len(set(prompts) - set(base))} not in the baseline); use the same seeds file and limit",
                              baseline)
    responses, counts = generate_responses(model, rows, out, generation, generator=generator, progress=progress, restart=restart)
    answers = [responses[p] for p in prompts]
    items = quality.assess(prompts, [()] * len(prompts), answers)
    scores: dict[str, Any] = {
        "n_prompts": len(rows),
        "quality": quality.summary(items, prompts),
        "meta": {"model": model, "seeds": str(seeds), "limit": limit, "precision": counts["precision"],
                 "backend": counts["backend"]},  # the decoding settings are in generation.json
    }
    report = ["# Control set (no constraints)", "", f"{len(rows)} held-out seed prompts from `{seeds}`, model `{model}`.", "",
              *quality_lines(scores["quality"])]
    if base is not None:
        before = quality.assess(prompts, [()] * len(prompts), [base[p] for p in prompts])
        comparison = {"before": str(baseline), "after": str(out), **_bootstrap_meta(), "n_prompts": len(rows)}
        comparison["quality"] = paired_quality(before, items, resamples=comparison["resamples"], seed=comparison["seed"],
                                               confidence=comparison["confidence"])
        scores["comparison"] = comparison
        report += [f"## Against the baseline `{baseline}`", "", *quality_comparison_lines(comparison["quality"], comparison), ""]
    write_jsonl(out / RESPONSES, ({"prompt": p, "response": a} for p, a in zip(prompts, answers)))
    atomic_write_json(out / SCORES, scores)
    atomic_write_text(out / "report.md", "\n".join(report))
    return scores


def _bootstrap_meta() -> dict[str, Any]:
    from selfif.eval.bootstrap import CONFIDENCE, RESAMPLES, SEED

    return {"method": "paired bootstrap over prompts, percentile interval", "confidence": CONFIDENCE,
            "resamples": RESAMPLES, "seed": SEED}
