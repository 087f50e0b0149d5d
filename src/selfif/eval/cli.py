"""``selfif eval ifeval`` (generate + score) and ``selfif score ifeval`` (score a responses file).

Input problems (bad benchmark or responses rows, settings that clash with a resumable partial
file, a model that is not installed) end the command with exit code 2 and a one-line message
naming the file and line, instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from selfif.clikit import fail

from selfif.config import DEFAULT_BENCHMARK


def _print_scores(scores: dict, out: Path) -> None:
    from selfif.eval.report import OVERALL, pct

    typer.echo(f"IFEval, {scores['n_prompts']} prompts ({scores['n_instructions']} instructions):")
    for k, name in OVERALL:
        typer.echo(f"  {name:<26}{pct(scores[k]):>6} %")
    if scores.get("n_missing"):
        typer.echo(f"warning: {scores['n_missing']} benchmark prompts had no response (not scored)", err=True)
    if scores.get("n_errors"):
        typer.echo(f"warning: {scores['n_errors']} verifier errors counted as not followed (see scores.json 'errors')", err=True)
    typer.echo(f"outputs in {out}/ (scores.json, report.md, per_instruction.png, eval_results_*.jsonl)")


def register(app: typer.Typer, eval_app: typer.Typer, score_app: typer.Typer) -> None:
    @eval_app.command("ifeval")
    def eval_ifeval(
        model: str = typer.Option("smollm2-135m", "--model", "-m", help="Alias, checkpoint directory or hub id."),
        benchmark: str = typer.Option(DEFAULT_BENCHMARK, "--benchmark", "-b", help="IFEval JSONL path, or a Hugging Face dataset id such as google/IFEval."),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Evaluate the first N prompts only."),
        out: Path = typer.Option(Path("runs/eval"), "--out", "-o", help="Output directory (rerun the same command to resume)."),
        max_new_tokens: int = typer.Option(512, "--max-new-tokens", min=1),
        batch_size: int = typer.Option(16, "--batch-size", min=1),
        temperature: float = typer.Option(0.0, "--temperature", min=0.0, help="0 = greedy."),
        top_p: float = typer.Option(1.0, "--top-p", min=0.0, max=1.0),
        seed: int = typer.Option(0, "--seed"),
        backend: str = typer.Option("auto", "--backend", help="auto | transformers | vllm"),
    ) -> None:
        """Generate responses to IFEval prompts with MODEL, then score them (strict and loose)."""
        from pydantic import ValidationError

        from selfif.config import GenerationConfig
        from selfif.constraints.base import ConstraintError
        from selfif.eval.ifeval import evaluate_ifeval
        from selfif.io import InputError
        from selfif.models import ModelNotAvailable

        try:
            gen = GenerationConfig(
                backend=backend, max_new_tokens=max_new_tokens, batch_size=batch_size, temperature=temperature, top_p=top_p, seed=seed
            )
        except ValidationError as e:
            fail(ValueError("; ".join(f"--{'-'.join(map(str, x['loc'])).replace('_', '-')}: {x['msg']}" for x in e.errors())))
        try:
            scores = evaluate_ifeval(model, benchmark, out, limit=limit, generation=gen)
        except (InputError, ConstraintError, ModelNotAvailable, FileNotFoundError) as e:
            fail(e)
        _print_scores(scores, out)

    @score_app.command("ifeval")
    def score_ifeval(
        responses: Path = typer.Argument(..., help="JSONL with {\"prompt\", \"response\"} rows."),
        benchmark: str = typer.Option(DEFAULT_BENCHMARK, "--benchmark", "-b", help="IFEval JSONL path or Hugging Face dataset id."),
        out: Path = typer.Option(Path("runs/score"), "--out", "-o", help="Output directory."),
    ) -> None:
        """Score an existing responses file (rows matched to the benchmark by prompt text)."""
        from selfif.constraints.base import ConstraintError
        from selfif.eval.ifeval import score_file
        from selfif.io import InputError

        try:
            scores = score_file(responses, benchmark, out)
        except (InputError, ConstraintError) as e:
            fail(e)
        _print_scores(scores, out)
