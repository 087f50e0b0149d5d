"""``selfif train-rm`` and ``selfif serve-rm``.

Bad input (a malformed pairs/audit line, a missing checkpoint, an interrupted run with other
settings) raises located errors that the CLI's error boundary (:mod:`selfif.clikit`) turns into
exit code 2 and one line naming the problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from selfif.clikit import fail, from_preset
from selfif.layout import RM_META, RM_METRICS, RM_RELIABILITY


def register(app: typer.Typer, eval_app: typer.Typer, score_app: typer.Typer) -> None:
    @app.command("train-rm")
    def train_rm_cmd(
        pairs: Path = typer.Option(..., "--pairs", help="pairs.jsonl from `selfif label`."),
        out: Path = typer.Option(Path("runs/rm"), "--out", "-o", help="Checkpoint directory to create."),
        backbone: Optional[str] = typer.Option(None, "--backbone", help="minilm-l6 | smollm2-135m | HF id | directory.", show_default=from_preset("rm.backbone")),
        include_instruction: Optional[bool] = typer.Option(None, "--include-instruction/--no-include-instruction", help="Also show the instruction to the RM (the paper does not).", show_default=from_preset("rm.include_instruction")),
        epochs: Optional[int] = typer.Option(None, "--epochs", min=1, show_default=from_preset("rm.epochs")),
        lr: Optional[float] = typer.Option(None, "--lr", min=0.0, show_default=from_preset("rm.lr")),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, show_default=from_preset("rm.batch_size")),
        max_length: Optional[int] = typer.Option(None, "--max-length", min=16, show_default=from_preset("rm.max_length")),
        val_fraction: Optional[float] = typer.Option(None, "--val-fraction", min=0.0, max=0.9, show_default=from_preset("rm.val_fraction")),
        patience: Optional[int] = typer.Option(None, "--patience", min=1, help="Early stopping: epochs without val-loss improvement.", show_default=from_preset("rm.patience")),
        audit: Optional[Path] = typer.Option(None, "--audit", help="audit.json from `selfif label`."),
        min_audit_accuracy: Optional[float] = typer.Option(None, "--min-audit-accuracy", min=0.0, max=1.0, help="With --audit: drop types whose pseudo-label accuracy is lower (0.0 = keep all).", show_default=from_preset("rm.min_audit_accuracy")),
        seed: Optional[int] = typer.Option(None, "--seed", show_default=from_preset("rm.seed")),
        save_every: int = typer.Option(200, "--save-every", min=1, help="Save resumable state every N steps (and each epoch)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace the checkpoint in --out (only a directory train-rm wrote; anything else there is refused, never deleted)."),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML preset (rm section); flags override it."),
        set_: list[str] = typer.Option([], "--set", help="Override a preset value, e.g. rm.epochs=2 (repeatable)."),
    ) -> None:
        """Train the constraint-wise binary reward model (BCE on one logit) on pseudo-label pairs.

        Defaults come from the preset's ``rm`` section (the same settings `selfif run` uses).
        Rerun the same command after an interruption to resume.
        """
        from selfif.clikit import load_preset, with_flags
        from selfif.reward.train import format_report, train_rm

        cfg = with_flags(load_preset(config, set_).rm, dict(
            backbone=backbone, include_instruction=include_instruction, max_length=max_length, lr=lr, epochs=epochs,
            batch_size=batch_size, val_fraction=val_fraction, patience=patience,
            min_audit_accuracy=min_audit_accuracy, seed=seed,
        ))  # fmt: skip
        metrics = train_rm(pairs, out, cfg, audit_path=audit, overwrite=overwrite, save_every=save_every)
        typer.echo(format_report(metrics))
        typer.echo(f"checkpoint in {out}/ ({RM_METRICS}, {RM_RELIABILITY}, {RM_META})")

    @app.command("serve-rm")
    def serve_rm_cmd(
        checkpoint: Optional[Path] = typer.Option(None, "--rm", "--checkpoint", help="Directory written by `selfif train-rm` (default: <run_dir>/rm of the preset)."),
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (default: local only)."),
        port: int = typer.Option(8008, "--port", min=1, max=65535),
        max_body_bytes: int = typer.Option(8 * 1024 * 1024, "--max-body-bytes", min=1),
        max_items: int = typer.Option(1024, "--max-items", min=1, help="Items per request (more: HTTP 413)."),
        batch_window_ms: float = typer.Option(5.0, "--batch-window-ms", min=0.0, help="How long to collect concurrent requests."),
        max_batch_items: int = typer.Option(256, "--max-batch-items", min=1),
        body_timeout_s: float = typer.Option(30.0, "--body-timeout-s", min=0.1, max=3600.0, help="A request body must arrive within this (else HTTP 408)."),
        docs: bool = typer.Option(False, "--docs", help="Also serve /docs and /openapi.json (off by default)."),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML preset: the checkpoint defaults to its run_dir/rm."),
        set_: list[str] = typer.Option([], "--set", help="Override a preset value, e.g. run_dir=runs/cpu-2h (repeatable)."),
    ) -> None:
        """Serve a reward model: POST /score {"items": [...]} -> {"scores": [...]}, GET /health."""
        from selfif.clikit import load_preset
        from selfif.layout import RM_DIR
        from selfif.reward.server import ServerLimits, serve

        if checkpoint is None:
            checkpoint = Path(load_preset(config, set_).run_dir) / RM_DIR
        if not (checkpoint / RM_META).exists():
            fail(FileNotFoundError(f"{checkpoint} is not a reward-model checkpoint (no {RM_META})"))
        serve(str(checkpoint), host, port, ServerLimits(max_body_bytes, max_items, batch_window_ms, max_batch_items, body_timeout_s), docs=docs)
