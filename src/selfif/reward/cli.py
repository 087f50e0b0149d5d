"""``selfif train-rm`` and ``selfif serve-rm``.

Bad input (a malformed pairs/audit line, a missing checkpoint, an interrupted run with other
settings) ends the command with exit code 2 and one line naming the problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from selfif.clikit import fail


def register(app: typer.Typer, eval_app: typer.Typer, score_app: typer.Typer) -> None:
    @app.command("train-rm")
    def train_rm_cmd(
        pairs: Path = typer.Option(..., "--pairs", help="pairs.jsonl from `selfif label`."),
        out: Path = typer.Option(Path("runs/rm"), "--out", "-o", help="Checkpoint directory to create."),
        backbone: str = typer.Option("minilm-l6", "--backbone", help="minilm-l6 | smollm2-135m | HF id | directory."),
        include_instruction: bool = typer.Option(False, "--include-instruction/--no-include-instruction", help="Also show the instruction to the RM (the paper does not)."),
        epochs: int = typer.Option(3, "--epochs", min=1),
        lr: float = typer.Option(5e-5, "--lr", min=0.0),
        batch_size: int = typer.Option(16, "--batch-size", min=1),
        max_length: int = typer.Option(384, "--max-length", min=16),
        val_fraction: float = typer.Option(0.2, "--val-fraction", min=0.0, max=0.9),
        patience: int = typer.Option(2, "--patience", min=1, help="Early stopping: epochs without val-loss improvement."),
        audit: Optional[Path] = typer.Option(None, "--audit", help="audit.json from `selfif label`."),
        min_audit_accuracy: float = typer.Option(0.6, "--min-audit-accuracy", min=0.0, max=1.0, help="With --audit: drop types whose pseudo-label accuracy is lower."),
        seed: int = typer.Option(0, "--seed"),
        save_every: int = typer.Option(200, "--save-every", min=1, help="Save resumable state every N steps (and each epoch)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing checkpoint in --out."),
    ) -> None:
        """Train the constraint-wise binary reward model (BCE on one logit) on pseudo-label pairs.

        Rerun the same command after an interruption to resume.
        """
        from pydantic import ValidationError

        from selfif.config import RMConfig
        from selfif.io import InputError
        from selfif.models import ModelNotAvailable
        from selfif.reward.train import format_report, train_rm

        try:
            cfg = RMConfig(
                backbone=backbone, include_instruction=include_instruction, max_length=max_length, lr=lr, epochs=epochs,
                batch_size=batch_size, val_fraction=val_fraction, patience=patience,
                min_audit_accuracy=min_audit_accuracy if audit is not None else 0.0, seed=seed,
            )  # fmt: skip
        except ValidationError as e:
            fail(ValueError("; ".join(f"--{'-'.join(map(str, x['loc'])).replace('_', '-')}: {x['msg']}" for x in e.errors())))
        try:
            metrics = train_rm(pairs, out, cfg, audit_path=audit, overwrite=overwrite, save_every=save_every)
        except (InputError, ModelNotAvailable, FileNotFoundError, FileExistsError, RuntimeError) as e:
            fail(e)
        typer.echo(format_report(metrics))
        typer.echo(f"checkpoint in {out}/ (metrics.json, reliability.png, selfif_rm.json)")

    @app.command("serve-rm")
    def serve_rm_cmd(
        checkpoint: Path = typer.Option(..., "--checkpoint", "-c", help="Directory written by `selfif train-rm`."),
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (default: local only)."),
        port: int = typer.Option(8008, "--port", min=1, max=65535),
        max_body_bytes: int = typer.Option(8 * 1024 * 1024, "--max-body-bytes", min=1),
        max_items: int = typer.Option(1024, "--max-items", min=1, help="Items per request (more: HTTP 413)."),
        batch_window_ms: float = typer.Option(5.0, "--batch-window-ms", min=0.0, help="How long to collect concurrent requests."),
        max_batch_items: int = typer.Option(256, "--max-batch-items", min=1),
    ) -> None:
        """Serve a reward model: POST /score {"items": [...]} -> {"scores": [...]}, GET /health."""
        from selfif.reward.server import ServerLimits, serve

        if not (checkpoint / "selfif_rm.json").exists():
            fail(FileNotFoundError(f"{checkpoint} is not a reward-model checkpoint (no selfif_rm.json)"))
        try:
            serve(str(checkpoint), host, port, ServerLimits(max_body_bytes, max_items, batch_window_ms, max_batch_items))
        except ValueError as e:
            fail(e)
