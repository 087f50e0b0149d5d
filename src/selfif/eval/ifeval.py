"""IFEval end to end: generate responses with a policy (resumable), score them, write the outputs.

Output directory layout (docs/artifacts.md, "IFEval outputs"):

- ``responses.partial.jsonl`` – appended batch by batch during generation; a rerun with the same
  model and decoding settings skips prompts already answered here; ``generation.json`` records
  those settings so a rerun with different ones is refused instead of mixing answers.
- ``responses.jsonl`` – official ``input_response_data`` format, ``{"prompt", "response"}``.
- ``eval_results_strict.jsonl`` / ``eval_results_loose.jsonl`` – official per-row files.
- ``scores.json``, ``report.md``, ``per_instruction.png``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from selfif.config import EvalConfig, GenerationConfig
from selfif.eval.benchmark import BenchmarkRow, load_benchmark
from selfif.eval.report import plot_per_instruction, render_report
from selfif.eval.scoring import Judged, aggregate, judge
from selfif.inference import SamplingParams, make_generator
from selfif.io import InputError, JsonlAppender, atomic_write_json, atomic_write_text, iter_jsonl, read_jsonl, write_jsonl

log = logging.getLogger(__name__)

PARTIAL = "responses.partial.jsonl"
RUN_INFO = "generation.json"


class ResponseRow(BaseModel):
    """A ``{"prompt", "response"}`` row (extra fields such as ``key`` are allowed and ignored)."""

    model_config = ConfigDict(extra="ignore")

    prompt: str
    response: str


def _sampling(generation: GenerationConfig | SamplingParams | None) -> tuple[SamplingParams, str]:
    """(SamplingParams, backend) from either settings type; default is the eval preset (greedy, 512)."""
    if generation is None:
        generation = EvalConfig().generation
    if isinstance(generation, SamplingParams):
        return generation, "auto"
    g = generation
    return SamplingParams(g.max_new_tokens, g.temperature, g.top_p, g.seed, g.batch_size), g.backend


def _backend_name(backend: str, generator) -> str:
    if generator is not None:
        return getattr(generator, "name", type(generator).__name__)
    if backend == "auto":
        from selfif.inference import vllm_usable

        return "vllm" if vllm_usable() else "transformers"
    return backend


def _checkpoint_fingerprint(model: str) -> str | None:
    """For a local checkpoint directory: a hash of its weight/config files' names, sizes and mtimes,
    so a policy retrained into the same path does not reuse the old policy's answers."""
    p = Path(model).expanduser()
    if not p.is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(p.iterdir()):
        if f.is_file() and (f.suffix in (".safetensors", ".bin") or f.name == "config.json"):
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def _decoding_identity(model: str, sp: SamplingParams) -> dict[str, Any]:
    """What must match for earlier partial responses to be reused. Batch size and backend do not
    count; under greedy decoding neither do ``top_p`` and ``seed``."""
    return {
        "model": model,
        "checkpoint": _checkpoint_fingerprint(model),
        "max_new_tokens": sp.max_new_tokens,
        "temperature": sp.temperature,
        "top_p": None if sp.greedy else sp.top_p,
        "seed": None if sp.greedy else sp.seed,
    }


def _check_resume(out: Path, ident: dict[str, Any]) -> None:
    info = out / RUN_INFO
    if (out / PARTIAL).exists() and info.exists():
        old = json.loads(info.read_text())
        if isinstance(old.get("temperature"), (int, float)) and old["temperature"] <= 0:
            old.update(top_p=None, seed=None)  # greedy: sampling knobs never mattered
        diff = {k: (old.get(k), v) for k, v in ident.items() if old.get(k) != v}
        if diff:
            raise InputError(
                out / PARTIAL,
                None,
                "holds responses generated with different settings "
                + ", ".join(f"{k}: {a!r} (then) vs {b!r} (now)" for k, (a, b) in diff.items())
                + "; use another --out directory or delete this file",
            )
    atomic_write_json(info, ident)


def generate_responses(
    model: str,
    rows: list[BenchmarkRow],
    out_dir: str | os.PathLike,
    generation: GenerationConfig | SamplingParams | None = None,
    *,
    generator=None,
    progress: bool = True,
) -> tuple[dict[str, str], dict[str, int]]:
    """Responses for ``rows`` (prompt -> response), resuming from ``out_dir/responses.partial.jsonl``.

    Returns the responses and counts ``{"resumed", "generated"}``. ``generator`` lets a caller
    that already holds a loaded model (the pipeline, tests) reuse it.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sp, backend = _sampling(generation)
    _check_resume(out, _decoding_identity(model, sp))
    wanted = {r.prompt for r in rows}
    with JsonlAppender(out / PARTIAL) as app:  # opening repairs a torn last line
        done = {r.prompt: r.response for r in iter_jsonl(app.path, ResponseRow) if r.prompt in wanted} if app.path.stat().st_size else {}
        todo = [r for r in rows if r.prompt not in done]
        log.info("%d prompts: %d already answered in %s, %d to generate", len(rows), len(done), app.path, len(todo))
        if todo:
            if generator is None:
                generator = make_generator(model, backend=backend)
            prompts = [r.prompt for r in todo]
            for idx, texts in generator.iter_generate(prompts, sp, progress=progress, desc="ifeval"):
                for i, text in zip(idx, texts):
                    app.write({"key": todo[i].key, "prompt": todo[i].prompt, "response": text})
                    done[todo[i].prompt] = text
    return done, {"resumed": len(rows) - len(todo), "generated": len(todo)}


def write_outputs(out_dir: str | os.PathLike, judged: Judged, scores: Mapping[str, Any]) -> None:
    """Write every scoring artifact atomically (responses.jsonl, official per-row files, scores, report, PNG)."""
    out = Path(out_dir)
    write_jsonl(out / "responses.jsonl", ({"prompt": r.row.prompt, "response": r.response} for r in judged.results))
    write_jsonl(out / "eval_results_strict.jsonl", (r.official(loose=False) for r in judged.results))
    write_jsonl(out / "eval_results_loose.jsonl", (r.official(loose=True) for r in judged.results))
    atomic_write_json(out / "scores.json", scores)
    atomic_write_text(out / "report.md", render_report(scores))
    plot_per_instruction(scores, out / "per_instruction.png")


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


def evaluate_ifeval(
    model: str,
    benchmark: str | os.PathLike,
    out_dir: str | os.PathLike,
    limit: int | None = None,
    generation: GenerationConfig | SamplingParams | None = None,
    *,
    generator=None,
    progress: bool = True,
) -> dict[str, Any]:
    """Generate with ``model`` on ``benchmark`` (first ``limit`` rows), score, write all outputs.

    ``generation`` defaults to the eval preset (greedy, 512 new tokens, batch 16). Returns the
    ``scores.json`` dict, which also carries ``meta`` (model, benchmark, settings, timings).
    """
    out = Path(out_dir)
    rows = load_benchmark(benchmark, limit)
    sp, backend = _sampling(generation)
    t0 = time.perf_counter()
    responses, counts = generate_responses(model, rows, out, generation, generator=generator, progress=progress)
    t_gen = time.perf_counter() - t0
    judged = judge([responses[r.prompt] for r in rows], rows, progress=progress)
    scores = aggregate(judged)
    scores["meta"] = {
        "model": model,
        "benchmark": str(benchmark),
        "limit": limit,
        "generation": {"max_new_tokens": sp.max_new_tokens, "temperature": sp.temperature, "top_p": sp.top_p, "seed": sp.seed, "batch_size": sp.batch_size, "backend": _backend_name(backend, generator)},
        "resumed": counts["resumed"],
        "generated": counts["generated"],
        "generation_seconds": round(t_gen, 2),
    }
    write_outputs(out, judged, scores)
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
    # read_jsonl validates (and locates its own errors); blank lines are skipped, so pair the
    # records with the numbers of the non-blank lines to locate ours.
    nonblank = [i for i, ln in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if ln.strip()]
    for lineno, rec in zip(nonblank, read_jsonl(path, ResponseRow)):
        if rec.prompt not in known:
            raise InputError(path, lineno, f"prompt does not match any benchmark prompt: {rec.prompt[:80]!r}")
        if rec.prompt in out:
            raise InputError(path, lineno, f"prompt already answered at line {first_line[rec.prompt]}")
        out[rec.prompt] = rec.response
        first_line[rec.prompt] = lineno
    if not out:
        raise InputError(path, None, "no responses")
    return out


def score_file(responses_path: str | os.PathLike, benchmark: str | os.PathLike, out_dir: str | os.PathLike, *, progress: bool = True) -> dict[str, Any]:
    """Score an existing responses file and write the same outputs as :func:`evaluate_ifeval`.

    Benchmark rows without a response are not scored; they are listed in ``missing_keys``.
    """
    rows = load_benchmark(benchmark)
    responses = read_responses(responses_path, rows)
    judged = judge(responses, rows, progress=progress)
    scores = aggregate(judged)
    scores["meta"] = {"responses": str(responses_path), "benchmark": str(benchmark)}
    if judged.missing_keys:
        log.warning("%d benchmark prompts have no response in %s; scored the %d that do", len(judged.missing_keys), responses_path, len(judged.results))
    write_outputs(out_dir, judged, scores)
    _summarise(scores, Path(out_dir))
    return scores
