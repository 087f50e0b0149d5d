"""``selfif run CONFIG.yaml``: seeds -> synth -> label -> train-rm -> eval(before) -> train -> eval(after) -> report.

Each stage writes its artifacts under ``run_dir`` and records itself in ``manifest.json`` with a
hash of the config sections it depends on (chained through its upstream stages). A rerun skips
every stage whose hash matches and whose outputs exist, so an interrupted pipeline resumes at the
first unfinished stage, and changing e.g. ``train.learning_rate`` reruns only training and the
final evaluation. Stages that resume internally (label, train, eval) pick up their own partial
files too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from selfif.config import ConfigError, PipelineConfig, load_config
from selfif.io import atomic_write_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage:
    name: str
    sections: tuple[str, ...]  # config sections (or top-level keys) the stage's output depends on
    upstream: tuple[str, ...]
    outputs: tuple[str, ...]  # paths relative to run_dir that must exist after the stage
    run: Callable[[PipelineConfig, Path], dict[str, Any]]
    clean: tuple[str, ...] = ()  # resumable work dirs, removed when the stage's config changed
    always: bool = False  # cheap stages (the report) rerun every time


@dataclass
class Manifest:
    path: Path
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> "Manifest":
        if path.exists():
            return cls(path, json.loads(path.read_text()).get("stages", {}))
        return cls(path)

    def save(self) -> None:
        atomic_write_json(self.path, {"stages": self.stages})


def _stage_hash(cfg: PipelineConfig, stage: Stage, hashes: dict[str, str]) -> str:
    parts = {"sections": cfg.section_hash(*stage.sections), "upstream": [hashes[u] for u in stage.upstream]}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def run_pipeline(cfg: PipelineConfig, stages: list[Stage], *, force: list[str] | None = None) -> Manifest:
    """Run ``stages`` in order, skipping up-to-date ones; returns the manifest."""
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "config.json", cfg.model_dump(mode="json"))
    manifest = Manifest.load(run_dir / "manifest.json")
    hashes: dict[str, str] = {}
    force = set(force or [])
    for stage in stages:
        h = _stage_hash(cfg, stage, hashes)
        hashes[stage.name] = h
        rec = manifest.stages.get(stage.name)
        outputs_exist = all((run_dir / o).exists() for o in stage.outputs)
        if rec and rec.get("status") == "done" and rec.get("hash") == h and outputs_exist \
                and stage.name not in force and not stage.always:
            log.info("stage %-10s up to date (%.0f s when run), skipping", stage.name, rec.get("seconds", 0))
            continue
        if rec and (rec.get("hash") != h or stage.name in force):
            # Another config produced what is there: its partial work must not be resumed.
            for rel in stage.clean:
                if (run_dir / rel).exists():
                    log.info("stage %s: config changed, removing stale %s", stage.name, run_dir / rel)
                    shutil.rmtree(run_dir / rel)
        # Same hash + status "running" = interrupted: the stage resumes from its own partial files.
        manifest.stages[stage.name] = {"hash": h, "status": "running"}
        manifest.save()
        log.info("stage %-10s running", stage.name)
        t0 = time.time()
        summary = stage.run(cfg, run_dir) or {}
        missing = [o for o in stage.outputs if not (run_dir / o).exists()]
        if missing:
            raise RuntimeError(f"stage {stage.name} finished without writing {missing}")
        manifest.stages[stage.name] = {
            "hash": h,
            "status": "done",
            "seconds": round(time.time() - t0, 1),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "summary": summary,
        }
        manifest.save()
        log.info("stage %-10s done in %.1f s", stage.name, time.time() - t0)
    return manifest


def register(app: typer.Typer, eval_app: typer.Typer, score_app: typer.Typer) -> None:
    @app.command("run")
    def run_cmd(
        config: Path = typer.Argument(..., help="Pipeline preset (YAML), e.g. configs/demo-cpu.yaml."),
        benchmark: str | None = typer.Option(None, help="IFEval benchmark JSONL (overrides eval.benchmark)."),
        run_dir: str | None = typer.Option(None, help="Output directory (overrides run_dir)."),
        set_: list[str] = typer.Option([], "--set", help="Override a config value: section.key=value (repeatable)."),
        force: list[str] = typer.Option([], help="Rerun this stage even if up to date (repeatable)."),
    ) -> None:
        """Run the whole pipeline; rerunning resumes and skips up-to-date stages."""
        from selfif.stages import pipeline_stages

        overrides = list(set_)
        if benchmark:
            overrides.append(f"eval.benchmark={benchmark}")
        if run_dir:
            overrides.append(f"run_dir={run_dir}")
        try:
            cfg = load_config(config, overrides)
        except ConfigError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from None
        manifest = run_pipeline(cfg, pipeline_stages(), force=force)
        typer.echo(f"report: {Path(cfg.run_dir) / 'report.md'}")
        total = sum(s.get("seconds", 0) for s in manifest.stages.values())
        typer.echo(f"stages recorded: {len(manifest.stages)}, total stage time {total:.0f} s")
