"""IFEval end to end: generate responses with a policy (resumable), score them, write the outputs.

Output directory layout (docs/artifacts.md, "IFEval outputs"):

- ``responses.partial.jsonl`` – appended batch by batch during generation (:mod:`selfif.generation.resumable`,
  shared with label); a rerun with the same model and decoding settings skips prompts already
  answered here; ``generation.json`` holds the fingerprint (model, checkpoint, decoding, precision,
  backend) so a rerun with different ones is refused instead of mixing answers.
- ``responses.jsonl`` – official ``input_response_data`` format, ``{"prompt", "response"}``.
- ``eval_results_strict.jsonl`` / ``eval_results_loose.jsonl`` – official per-row files.
- ``scores.json``, ``report.md``, ``per_instruction.png``.
- ``complete.json`` – written last, after the files above are renamed into place together
  (:func:`selfif.io.output_set`); readers refuse a directory whose record says incomplete.
- ``.selfif.lock`` – held while a process generates or writes here: a second one exits 2.

No output may replace an input (``score ifeval X/responses.jsonl --out X`` is refused).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from selfif.config import EvalConfig, GenerationConfig
from selfif.eval.benchmark import BenchmarkRow, load_benchmark
from selfif.eval.bootstrap import compare_verdicts, load_baseline, verdicts_from_results
from selfif.eval.report import plot_per_instruction, render_report
from selfif.eval.scoring import Judged, aggregate, judge
from selfif.generation import SamplingParams, generator_identity, load_for, sampling_params
from selfif.generation.resumable import PARTIAL, Job, ResponseRow, fingerprint, generate_resumable
from selfif.io import (
    InputError, atomic_write_json, atomic_write_text, check_inputs_survive, exclusive_lock, iter_jsonl_rows, output_set,
    write_jsonl,
)
from selfif.layout import (
    EVAL_OUTPUTS, EVAL_REPORT, EVAL_RESULTS_LOOSE, EVAL_RESULTS_STRICT, GENERATION_INFO, PER_INSTRUCTION_PNG, RESPONSES,
    SCORES,
)
from selfif.models import resolve

log = logging.getLogger(__name__)

RUN_INFO = GENERATION_INFO  # the name lives in selfif.layout


def _sampling(generation: GenerationConfig | SamplingParams | None) -> tuple[SamplingParams, GenerationConfig]:
    """(SamplingParams, GenerationConfig) from either settings type; default is the eval preset
    (greedy, 512). Bare SamplingParams (tests, callers with a loaded generator) get the eval
    preset's backend and precision."""
    preset = EvalConfig().generation
    if generation is None:
        generation = preset
    if isinstance(generation, SamplingParams):
        sp = generation
        return sp, preset.model_copy(update=dict(max_new_tokens=sp.max_new_tokens, temperature=sp.temperature,
                                                 top_p=sp.top_p, seed=sp.seed, batch_size=sp.batch_size))
    return sampling_params(generation), generation


def generate_responses(
    model: str,
    rows: list[BenchmarkRow],
    out_dir: str | os.PathLike,
    generation: GenerationConfig | SamplingParams | None = None,
    *,
    generator=None,
    progress: bool = True,
    restart: bool = False,
) -> tuple[dict[str, str], dict[str, Any]]:
    """Responses for ``rows`` (prompt -> response), resuming from ``out_dir/responses.partial.jsonl``
    through the shared resumable generator (:mod:`selfif.generation.resumable`).

    Returns the responses and ``{"resumed", "generated", "precision", "backend"}``. ``generator``
    lets a caller that already holds a loaded model (the pipeline, tests) reuse it.
    """
    sp, gc = _sampling(generation)
    model_path = resolve(model) if generator is None else None  # once for the stage, handed to the backend
    backend, prec = generator_identity(gc, generator, model=model, path=model_path)
    run = generate_resumable(
        list({r.prompt: Job(r.prompt, r.prompt, {"key": r.key}) for r in rows}.values()), out_dir,
        identity=fingerprint(model, sp, prec, backend), key_of=lambda rec: rec["prompt"],
        load_generator=load_for(model, backend, prec, generator, model_path), params=sp, meta_name=RUN_INFO,
        restart=restart, restart_hint="use another --out directory or pass --restart", progress=progress, desc="ifeval",
    )
    counts = {"resumed": run.reused, "generated": run.generated, "precision": run.precision, "backend": run.backend}
    return run.responses, counts


def write_outputs(out_dir: str | os.PathLike, judged: Judged, scores: Mapping[str, Any],
                  inputs: Sequence[str | os.PathLike | None] = ()) -> None:
    """Write every scoring artifact (responses.jsonl, official per-row files, scores, report, PNG)
    as one set (:func:`selfif.io.output_set`): a failure part-way leaves the earlier set as it was,
    and ``complete.json``, written last, lets ``eval compare``, ``--baseline`` and ``selfif run``
    refuse a directory whose files come from two writes. None of them may replace an ``inputs`` file."""
    with output_set(out_dir, EVAL_OUTPUTS, inputs=inputs) as out:
        write_jsonl(out / RESPONSES, ({"prompt": r.row.prompt, "response": r.response} for r in judged.results))
        write_jsonl(out / EVAL_RESULTS_STRICT, (r.official(loose=False) for r in judged.results))
        write_jsonl(out / EVAL_RESULTS_LOOSE, (r.official(loose=True) for r in judged.results))
        atomic_write_json(out / SCORES, scores)
        atomic_write_text(out / EVAL_REPORT, render_report(scores))
        plot_per_instruction(scores, out / PER_INSTRUCTION_PNG)


def _inputs(benchmark: str | os.PathLike, baseline: str | os.PathLike | None, *files: str | os.PathLike) -> list[Path]:
    """The files a scoring reads (a local benchmark, the baseline's per-row files, ``files``):
    none of its outputs may replace one of them."""
    found = [Path(f) for f in files]
    if Path(benchmark).is_file():
        found.append(Path(benchmark))
    if baseline is not None:
        found += [Path(baseline) / EVAL_RESULTS_STRICT, Path(baseline) / EVAL_RESULTS_LOOSE]
    return found


def _summarise(scores: Mapping[str, Any], out: Path) -> None:
    log.info(
        "IFEval on %d prompts: prompt strict %.1f%% loose %.1f%%, instruction strict %.1f%% loose %.1f%% -> %s",
        scores["n_prompts"],
        100 * scores["prompt_level_strict"],
        100 * scores["prompt_level_loose"],
        100 * scores["instruction_level_strict"],
        100 * scores["instruction_level_loose"],
        out,
    )
    if scores.get("n_errors"):
        log.warning("%d verifier errors counted as not followed; see scores.json 'errors'", scores["n_errors"])


def check_out_dir(out: Path) -> None:
    """Refuse an ``--out`` that exists and is not a directory, before any work: the evaluation
    writes a directory of files there, and the failure would otherwise come only at the first
    write, after the benchmark was read and every response generated or scored."""
    if out.exists() and not out.is_dir():
        raise InputError(out, None, "--out exists and is not a directory (it names the directory for the evaluation's files)")


def evaluate_ifeval(
    model: str,
    benchmark: str | os.PathLike,
    out_dir: str | os.PathLike,
    limit: int | None = None,
    generation: GenerationConfig | SamplingParams | None = None,
    *,
    generator=None,
    progress: bool = True,
    baseline: str | os.PathLike | None = None,
    instruction_types: Sequence[str] | None = None,
    restart: bool = False,
) -> dict[str, Any]:
    """Generate with ``model`` on ``benchmark`` (first ``limit`` rows), score, write all outputs.

    ``generation`` defaults to the eval preset (greedy, 512 new tokens, batch 16). Returns the
    ``scores.json`` dict, which also carries ``meta`` (model, benchmark, settings, timings).
    ``instruction_types`` keeps only rows asking for one of those ids; ``baseline`` (an earlier
    evaluation directory of the same rows) adds ``comparison``: deltas with paired bootstrap
    intervals (:mod:`selfif.eval.bootstrap`), checked for pairing before anything is generated.
    """
    out = Path(out_dir)
    check_out_dir(out)
    rows = load_benchmark(benchmark, limit, instruction_types=instruction_types)
    inputs = _inputs(benchmark, baseline)
    check_inputs_survive([out / n for n in EVAL_OUTPUTS], inputs)  # before the generation, not after it
    base = load_baseline(baseline, rows) if baseline is not None else None
    with exclusive_lock(out, inside=True):  # one writer: two evaluations must not append to one partial file
        sp, _ = _sampling(generation)
        t0 = time.perf_counter()
        responses, counts = generate_responses(model, rows, out, generation, generator=generator, progress=progress, restart=restart)
        t_gen = time.perf_counter() - t0
        judged = judge([responses[r.prompt] for r in rows], rows, progress=progress)
        scores = aggregate(judged)
        scores["meta"] = {
            "model": model,
            "benchmark": str(benchmark),
            "limit": limit,
            "generation": {"max_new_tokens": sp.max_new_tokens, "temperature": sp.temperature, "top_p": sp.top_p, "seed": sp.seed, "batch_size": sp.batch_size, "backend": counts["backend"]},
            "precision": counts["precision"],
            "resumed": counts["resumed"],
            "generated": counts["generated"],
            "generation_seconds": round(t_gen, 2),
            "instruction_types": list(instruction_types) if instruction_types else None,
        }
        if base is not None:
            scores["comparison"] = compare_verdicts(base, verdicts_from_results(judged.results), baseline, out)
        write_outputs(out, judged, scores, inputs)
        _summarise(scores, out)
        return scores


def read_responses(path: str | os.PathLike, rows: list[BenchmarkRow]) -> dict[str, str]:
    """prompt -> response from a responses JSONL, each prompt matched to a benchmark row.

    A prompt that is not in the benchmark, or answered twice, is an :class:`InputError` at its line.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, None, "file does not exist")
    known = {r.prompt for r in rows}
    out: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for lineno, rec in iter_jsonl_rows(path, ResponseRow):  # the reader yields the line numbers
        if rec.prompt not in known:
            raise InputError(path, lineno, f"prompt does not match any benchmark prompt: {rec.prompt[:80]!r}")
        if rec.prompt in out:
            raise InputError(path, lineno, f"prompt already answered at line {first_line[rec.prompt]}")
        out[rec.prompt] = rec.response
        first_line[rec.prompt] = lineno
    if not out:
        raise InputError(path, None, "no responses")
    return out


def score_file(
    responses_path: str | os.PathLike, benchmark: str | os.PathLike, out_dir: str | os.PathLike, *, progress: bool = True,
    baseline: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Score an existing responses file and write the same outputs as :func:`evaluate_ifeval`.

    Benchmark rows without a response are not scored; they are listed in ``missing_keys``.
    ``baseline`` adds ``comparison`` as in :func:`evaluate_ifeval`.
    """
    out = Path(out_dir)
    check_out_dir(out)
    inputs = _inputs(benchmark, baseline, responses_path)
    check_inputs_survive([out / n for n in EVAL_OUTPUTS], inputs)  # `score X/responses.jsonl --out X`
    rows = load_benchmark(benchmark)
    responses = read_responses(responses_path, rows)
    base = load_baseline(baseline, [r for r in rows if r.prompt in responses]) if baseline is not None else None
    with exclusive_lock(out, inside=True):
        judged = judge(responses, rows, progress=progress)
        scores = aggregate(judged)
        scores["meta"] = {"responses": str(responses_path), "benchmark": str(benchmark)}
        if base is not None:
            scores["comparison"] = compare_verdicts(base, verdicts_from_results(judged.results), baseline, out)
        if judged.missing_keys:
            log.warning("%d benchmark prompts have no response in %s; scored the %d that do", len(judged.missing_keys), responses_path, len(judged.results))
        write_outputs(out, judged, scores, inputs)
    _summarise(scores, out)
    return scores
