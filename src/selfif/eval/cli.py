"""``selfif eval ifeval`` (generate + score) and ``selfif score ifeval`` (score a responses file).

Input problems (bad benchmark or responses rows, settings that clash with a resumable partial
file, a model that is not installed) end the command with exit code 2 and a one-line message
naming the file and line, instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from selfif.clikit import from_preset
from selfif.eval.bootstrap import MAX_RESAMPLES, MAX_SEED

BENCHMARK_HELP = ("IFEval benchmark: a Hugging Face dataset id (default google/IFEval, via eval.benchmark; offline, "
                  "its copy packaged with selfif) or a local JSONL file in the official input_data.jsonl format.")


def _print_scores(scores: dict, out: Path) -> None:
    from selfif.eval.report import OVERALL, pct

    typer.echo(f"IFEval, {scores['n_prompts']} prompts ({scores['n_instructions']} instructions):")
    for k, name in OVERALL:
        typer.echo(f"  {name:<26}{pct(scores[k]):>6} %")
    if scores.get("n_missing"):
        typer.echo(f"warning: {scores['n_missing']} benchmark prompts had no response (not scored)", err=True)
    if scores.get("n_errors"):
        typer.echo(f"warning: {scores['n_errors']} verifier errors counted as not followed (see scores.json 'errors')", err=True)
    if scores.get("comparison"):
        from selfif.eval.report import delta_summary

        typer.echo(delta_summary(scores["comparison"]))
    typer.echo(f"outputs in {out}/ (scores.json, report.md, per_instruction.png, eval_results_*.jsonl)")


BASELINE_HELP = ("An earlier evaluation directory of the same prompts: scores.json gets 'comparison', every delta "
                 "with a paired bootstrap 95 % interval.")


def register(app: typer.Typer, eval_app: typer.Typer, score_app: typer.Typer) -> None:
    @eval_app.command("ifeval")
    def eval_ifeval(
        model: Optional[str] = typer.Option(None, "--model", "-m", help="Alias, checkpoint directory or hub id (default: the preset's model).", show_default=from_preset("model")),
        benchmark: Optional[str] = typer.Option(None, "--benchmark", "-b", help=BENCHMARK_HELP),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Evaluate the first N prompts only."),
        out: Path = typer.Option(Path("runs/eval"), "--out", "-o", help="Output directory (rerun the same command to resume)."),
        max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", min=1, show_default=from_preset("eval.generation.max_new_tokens")),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, show_default=from_preset("eval.generation.batch_size")),
        temperature: Optional[float] = typer.Option(None, "--temperature", min=0.0, help="0 = greedy.", show_default=from_preset("eval.generation.temperature")),
        top_p: Optional[float] = typer.Option(None, "--top-p", min=0.0, max=1.0, show_default=from_preset("eval.generation.top_p")),
        seed: Optional[int] = typer.Option(None, "--seed", show_default=from_preset("eval.generation.seed")),
        backend: Optional[str] = typer.Option(None, "--backend", help="auto | transformers | openvino | ctranslate2 | vllm", show_default=from_preset("eval.generation.backend")),
        precision: Optional[str] = typer.Option(None, "--precision", help="auto | fp32 | bf16 (auto: bf16 autocast where the CPU has native bf16)."),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML preset (eval section, top-level model); flags override it."),
        set_: list[str] = typer.Option([], "--set", help="Override a preset value, e.g. eval.generation.max_new_tokens=256."),
        baseline: Optional[Path] = typer.Option(None, "--baseline", help=BASELINE_HELP),
        restart: bool = typer.Option(False, "--restart", help="Discard responses.partial.jsonl and generate again."),
        instruction_type: list[str] = typer.Option([], "--instruction-type", help="Keep only prompts asking for this instruction id (repeatable; eval.instruction_types)."),
    ) -> None:
        """Generate responses to IFEval prompts with MODEL, then score them (strict and loose).

        Defaults come from the preset's ``eval`` section (greedy, 512 new tokens, google/IFEval).
        """
        from selfif.clikit import load_preset, with_flags
        from selfif.eval.ifeval import evaluate_ifeval

        pc = load_preset(config, set_)
        ec = with_flags(pc.eval, dict(benchmark=benchmark, limit=limit, instruction_types=instruction_type or None, generation=dict(
            backend=backend, max_new_tokens=max_new_tokens, batch_size=batch_size, temperature=temperature, top_p=top_p, seed=seed,
            precision=precision,
        )))  # fmt: skip
        scores = evaluate_ifeval(model or pc.model, ec.benchmark, out, limit=ec.limit, generation=ec.generation,
                                 instruction_types=ec.instruction_types, baseline=baseline, restart=restart)
        _print_scores(scores, out)

    @score_app.command("ifeval")
    def score_ifeval(
        responses: Path = typer.Argument(..., help="JSONL with {\"prompt\", \"response\"} rows."),
        benchmark: Optional[str] = typer.Option(None, "--benchmark", "-b", help=BENCHMARK_HELP),
        out: Path = typer.Option(Path("runs/score"), "--out", "-o", help="Output directory."),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML preset (eval.benchmark)."),
        set_: list[str] = typer.Option([], "--set", help="Override a preset value, e.g. eval.benchmark=google/IFEval."),
        baseline: Optional[Path] = typer.Option(None, "--baseline", help=BASELINE_HELP),
    ) -> None:
        """Score an existing responses file (rows matched to the benchmark by prompt text)."""
        from selfif.clikit import load_preset
        from selfif.eval.ifeval import score_file

        scores = score_file(responses, benchmark or load_preset(config, set_).eval.benchmark, out, baseline=baseline)
        _print_scores(scores, out)

    @eval_app.command("control")
    def eval_control(
        seeds: Path = typer.Argument(..., help="seeds.jsonl of held-out prompts ({\"id\", \"text\", \"source\"} rows) never drawn for training."),
        model: Optional[str] = typer.Option(None, "--model", "-m", help="Alias, checkpoint directory or hub id (default: the preset's model).", show_default=from_preset("model")),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Answer the first N prompts only."),
        out: Path = typer.Option(Path("runs/control"), "--out", "-o", help="Output directory (rerun the same command to resume)."),
        max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", min=1, show_default=from_preset("eval.generation.max_new_tokens")),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML preset (eval.generation, top-level model); flags override it."),
        set_: list[str] = typer.Option([], "--set", help="Override a preset value, e.g. eval.generation.max_new_tokens=256."),
        baseline: Optional[Path] = typer.Option(None, "--baseline", help="An earlier control directory of the same prompts: paired quality differences with 95 % intervals."),
        restart: bool = typer.Option(False, "--restart", help="Discard responses.partial.jsonl and generate again."),
    ) -> None:
        """Answer constraint-free prompts and report answer quality only (length, loops, unasked formats, relevance)."""
        from selfif.clikit import load_preset, with_flags
        from selfif.eval.control import evaluate_control

        pc = load_preset(config, set_)
        gen = with_flags(pc.eval.generation, dict(max_new_tokens=max_new_tokens))
        scores = evaluate_control(model or pc.model, seeds, out, gen, limit=limit, baseline=baseline, restart=restart)
        q = scores["quality"]
        typer.echo(f"control set, {scores['n_prompts']} prompts: median {q['words']['median']:g} words, "
                   f"{q['looping']['looping']} end in a loop" + (f", relevance {q['relevance']['mean']:.3f}" if q["relevance"] else ""))
        typer.echo(f"outputs in {out}/ (scores.json, report.md, responses.jsonl)")

    @eval_app.command("compare")
    def eval_compare(
        before: Path = typer.Argument(..., help="Evaluation directory of the starting policy (eval ifeval / score ifeval --out)."),
        after: Path = typer.Argument(..., help="Evaluation directory of the trained policy, same prompts."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Also write compare.json and compare.md here."),
        resamples: Optional[int] = typer.Option(None, "--resamples", min=100, max=MAX_RESAMPLES, help="Bootstrap resamples (default: bootstrap.RESAMPLES)."),
        seed: Optional[int] = typer.Option(None, "--seed", min=0, max=MAX_SEED, help="Bootstrap seed; the result is deterministic given it (default: bootstrap.SEED)."),
    ) -> None:
        """Before/after deltas of two evaluations of the same prompts, each with a paired bootstrap 95 % interval."""
        from selfif.eval.bootstrap import compare_dirs
        from selfif.eval.report import compare_report, delta_summary
        from selfif.eval.scoring import read_scores
        from selfif.io import InputError, atomic_write_json, atomic_write_text
        from selfif.layout import COMPARE, COMPARE_MD, SCORES

        if out is not None and out.exists() and not out.is_dir():  # before any work: --out is a directory
            raise InputError(out, None, "--out exists and is not a directory")
        comparison = compare_dirs(before, after, **{k: v for k, v in dict(resamples=resamples, seed=seed).items() if v is not None})
        scores = [read_scores(d / SCORES) for d in (before, after)]
        table = compare_report(*scores, comparison=comparison)
        if out is not None:  # written before anything is printed: a failed write leaves no half-shown result
            atomic_write_json(out / COMPARE, comparison)
            atomic_write_text(out / COMPARE_MD, f"# IFEval: `{after}` vs `{before}`\n\n{table}")
        typer.echo(table)
        typer.echo(delta_summary(comparison))
