"""``selfif label``: responses per level -> pseudo-label pairs -> audit.

Rerunning the same command resumes generation from ``responses.partial.jsonl``;
``--audit-only`` recomputes ``audit.json`` from an existing ``responses.jsonl``.
Input problems raise located errors that the CLI's error boundary (:mod:`selfif.clikit`) turns
into exit code 2 and a one-line message naming the file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from selfif.clikit import from_preset
from selfif.labeling.stage import run_label


def register(app: typer.Typer, eval_app: typer.Typer, score_app: typer.Typer) -> None:
    @app.command("label")
    def label_cmd(
        curriculum: Path = typer.Option(Path("runs/demo/curriculum.jsonl"), "--curriculum", help="curriculum.jsonl from `selfif synth`."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Directory for responses/pairs/audit (rerun to resume). Default: runs/demo."),
        out_dir: Optional[Path] = typer.Option(None, "--out-dir", hidden=True, help="Deprecated spelling of --out."),
        model: Optional[str] = typer.Option(None, "--model", "-m", help="Policy alias, checkpoint dir or hub id (default: the preset's model).", show_default=from_preset("model")),
        max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", min=1, show_default=from_preset("label.generation.max_new_tokens")),
        temperature: Optional[float] = typer.Option(None, "--temperature", min=0.0, help="0 = greedy.", show_default=from_preset("label.generation.temperature")),
        top_p: Optional[float] = typer.Option(None, "--top-p", show_default=from_preset("label.generation.top_p")),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, show_default=from_preset("label.generation.batch_size")),
        seed: Optional[int] = typer.Option(None, "--seed", show_default=from_preset("label.generation.seed")),
        backend: Optional[str] = typer.Option(None, "--backend", help="auto | transformers | openvino | ctranslate2 | vllm", show_default=from_preset("label.generation.backend")),
        precision: Optional[str] = typer.Option(None, "--precision", help="auto | fp32 | bf16 (auto: bf16 autocast where the CPU has native bf16)."),
        hard_labels: Optional[str] = typer.Option(None, "--hard-labels", help="contrast (paper) | verifier (hard labels from the checker).", show_default=from_preset("label.hard_labels")),
        do_audit: bool = typer.Option(False, "--audit", help="Also audit pseudo-labels against the verifier (audit.json)."),
        audit_only: bool = typer.Option(False, "--audit-only", help="Only (re)compute audit.json from existing responses.jsonl."),
        restart: bool = typer.Option(False, "--restart", help="Discard responses.partial.jsonl and start over."),
        max_batches: Optional[int] = typer.Option(None, "--max-batches", min=1, help="Stop after N batches (resume later)."),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML preset (label section, top-level model)."),
        set_: list[str] = typer.Option([], "--set", help="Override a preset value, e.g. label.generation.max_new_tokens=64."),
    ) -> None:
        """Generate one response per curriculum level, build contrast pseudo-label pairs, optionally audit them."""
        from selfif.clikit import load_preset, out_option, with_flags

        out_dir = out_option(out, out_dir, Path("runs/demo"))
        pc = load_preset(config, set_)
        lc = with_flags(pc.label, dict(hard_labels=hard_labels, generation=dict(
            max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, batch_size=batch_size, seed=seed, backend=backend,
            precision=precision,
        )))  # fmt: skip
        run_label(curriculum, out_dir, model or lc.model or pc.model, lc.generation, lc.hard_labels,
                  do_audit=do_audit, audit_only=audit_only, restart=restart, max_batches=max_batches)
