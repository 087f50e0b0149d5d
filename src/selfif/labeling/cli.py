"""``selfif label``: responses per level -> pseudo-label pairs -> audit.

Rerunning the same command resumes generation from ``responses.partial.jsonl``;
``--audit-only`` recomputes ``audit.json`` from an existing ``responses.jsonl``.
Input problems end with exit code 2 and a one-line message naming the file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from selfif.clikit import fail


def run_label(
    curriculum: Path, out_dir: Path, model: str, gen, hard_labels: str, *, do_audit: bool, audit_only: bool,
    restart: bool = False, max_batches: int | None = None, generator=None, echo=typer.echo,
) -> dict:
    """The whole stage (also used by the pipeline); returns a summary dict."""
    from selfif.io import read_jsonl, write_jsonl
    from selfif.labeling.audit import audit, render_table, write_audit
    from selfif.labeling.label import RESPONSES, ResponseRow, generate_responses, read_curriculum
    from selfif.labeling.pairs import build_pairs

    summary: dict = {}
    if not audit_only:
        run = generate_responses(curriculum, out_dir, model, gen, restart=restart, max_batches=max_batches, generator=generator)
        summary.update(total=run.total, reused=run.reused, generated=run.generated, complete=run.complete)
        if not run.complete:
            echo(f"stopped with {run.total - run.reused - run.generated} of {run.total} responses left; rerun to resume")
            return summary
    rows = read_curriculum(curriculum)
    responses_path = out_dir / RESPONSES
    responses = read_jsonl(responses_path, ResponseRow)
    if not audit_only:
        pairs = build_pairs(rows, responses, hard_labels, str(responses_path))
        write_jsonl(out_dir / "pairs.jsonl", pairs)
        n_pos = sum(p.label for p in pairs)
        summary.update(pairs=len(pairs), positives=n_pos, negatives=len(pairs) - n_pos)
        echo(f"wrote {out_dir / 'responses.jsonl'} ({len(responses)} responses) and {out_dir / 'pairs.jsonl'} "
             f"({len(pairs)} pairs: {n_pos} positive, {len(pairs) - n_pos} negative; hard labels from {hard_labels})")
    if do_audit or audit_only:
        report = audit(rows, responses, responses_path=str(responses_path))
        path = write_audit(report, out_dir)
        render_table(report)
        echo(f"wrote {path}")
        summary["audit"] = report["overall"]
    return summary


def register(app: typer.Typer, eval_app: typer.Typer, score_app: typer.Typer) -> None:
    @app.command("label")
    def label_cmd(
        curriculum: Path = typer.Option(Path("runs/demo/curriculum.jsonl"), "--curriculum", help="curriculum.jsonl from `selfif synth`."),
        out_dir: Path = typer.Option(Path("runs/demo"), "--out-dir", "-o", help="Where responses/pairs/audit go (rerun to resume)."),
        model: Optional[str] = typer.Option(None, "--model", "-m", help="Policy alias, checkpoint dir or hub id (default: the preset's model)."),
        max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", min=1),
        temperature: Optional[float] = typer.Option(None, "--temperature", min=0.0, help="0 = greedy."),
        top_p: Optional[float] = typer.Option(None, "--top-p"),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1),
        seed: Optional[int] = typer.Option(None, "--seed"),
        backend: Optional[str] = typer.Option(None, "--backend", help="auto | transformers | vllm"),
        hard_labels: Optional[str] = typer.Option(None, "--hard-labels", help="contrast (paper) | verifier (hard labels from the checker)."),
        do_audit: bool = typer.Option(False, "--audit", help="Also audit pseudo-labels against the verifier (audit.json)."),
        audit_only: bool = typer.Option(False, "--audit-only", help="Only (re)compute audit.json from existing responses.jsonl."),
        restart: bool = typer.Option(False, "--restart", help="Discard responses.partial.jsonl and start over."),
        max_batches: Optional[int] = typer.Option(None, "--max-batches", min=1, help="Stop after N batches (resume later)."),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML preset (label section, top-level model)."),
        set_: list[str] = typer.Option([], "--set", help="Override a preset value, e.g. label.generation.max_new_tokens=64."),
    ) -> None:
        """Generate one response per curriculum level, build contrast pseudo-label pairs, optionally audit them."""
        from pydantic import ValidationError

        from selfif.config import ConfigError, GenerationConfig, LabelConfig, load_config
        from selfif.constraints.base import ConstraintError
        from selfif.io import InputError
        from selfif.models import ModelNotAvailable

        try:
            pc = load_config(config, set_)
            lc = pc.label
            gen_over = dict(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, batch_size=batch_size, seed=seed, backend=backend)
            gen = GenerationConfig.model_validate({**lc.generation.model_dump(), **{k: v for k, v in gen_over.items() if v is not None}})
            lc = LabelConfig.model_validate({**lc.model_dump(), "generation": gen.model_dump(), **({"hard_labels": hard_labels} if hard_labels else {})})
        except ValidationError as e:
            fail(ValueError("; ".join(f"--{'-'.join(map(str, x['loc'][-1:])).replace('_', '-')}: {x['msg']}" for x in e.errors())))
        except ConfigError as e:
            fail(e)
        try:
            run_label(curriculum, out_dir, model or lc.model or pc.model, lc.generation, lc.hard_labels,
                      do_audit=do_audit, audit_only=audit_only, restart=restart, max_batches=max_batches)
        except (InputError, ConstraintError, ModelNotAvailable, FileNotFoundError) as e:
            fail(e)
