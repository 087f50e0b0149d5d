"""``selfif run CONFIG.yaml``: seeds -> synth -> label -> train-rm -> eval(before) -> train -> eval(after) -> report.

Each stage writes its artifacts under ``run_dir`` and records itself in ``manifest.json`` with a
hash of the config sections it depends on (chained through its upstream stages). A rerun skips
every stage whose hash matches and whose outputs exist, so an interrupted pipeline resumes at the
first unfinished stage, and changing e.g. ``train.learning_rate`` reruns only training and the
final evaluation. Stages that resume internally (label, train, eval) pick up their own partial
files too. An output directory whose completion record says its files are not one complete
write (``complete.json``, :func:`selfif.io.completion_error`) counts as missing: its stage runs
again. One run at a time holds the run directory's lock (``.selfif.lock``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import typer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from selfif.config import PipelineConfig
from selfif.io import InputError, atomic_write_json, completion_error, exclusive_lock
from selfif.layout import MANIFEST, REPORT, RUN_CONFIG
from selfif.memory import stage_peak
from selfif.stages import Stage

log = logging.getLogger(__name__)


class _StageRecord(BaseModel):
    """One stage's entry in ``manifest.json`` (what the runner reads back: hash and status)."""

    model_config = ConfigDict(extra="allow")
    hash: str
    status: Literal["running", "done", "failed"]
    seconds: float = Field(0, ge=0, allow_inf_nan=False)


class _ManifestFile(BaseModel):
    model_config = ConfigDict(extra="allow")
    stages: dict[str, _StageRecord] = {}


def _one_line_reason(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors())


@dataclass
class Manifest:
    path: Path
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> "Manifest":
        """Read ``manifest.json``; a file that is not a manifest is rejected, never overwritten."""
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(path, None, f"not a selfif manifest (invalid JSON: {e}); move it away to start a new run") from None
        if not isinstance(data, dict) or not isinstance(data.get("stages", {}), dict):
            raise InputError(path, None, "not a selfif manifest (expected {\"stages\": {...}}); move it away to start a new run")
        try:
            _ManifestFile.model_validate(data)
        except ValidationError as e:
            raise InputError(path, None, f"not a selfif manifest ({_one_line_reason(e)}); move it away to start a new run") from None
        return cls(path, data.get("stages", {}))

    def save(self) -> None:
        atomic_write_json(self.path, {"stages": self.stages})


def _stage_hash(cfg: PipelineConfig, stage: Stage, hashes: dict[str, str], *, files_by_content: bool = True) -> str:
    parts = {"sections": cfg.section_hash(*stage.sections, files_by_content=files_by_content),
             "upstream": [hashes[u] for u in stage.upstream]}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _move_aside(path: Path) -> Path:
    """Rename stale work to ``<path>.stale`` (replacing an older one) instead of deleting it."""
    aside = path.with_name(path.name + ".stale")
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside)
    elif aside.exists() or aside.is_symlink():
        aside.unlink()
    path.rename(aside)
    return aside


def run_pipeline(cfg: PipelineConfig, stages: list[Stage], *, force: list[str] | None = None) -> Manifest:
    """Run ``stages`` in order, skipping up-to-date ones; returns the manifest.

    The run directory is locked for the whole run (:func:`selfif.io.exclusive_lock`): a second
    run on it stops with :class:`selfif.io.Busy`, naming the first one's PID, before it writes
    anything (two runs at once left one's config.json beside the other's seeds).
    """
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(run_dir, inside=True):
        return _run_stages(cfg, stages, run_dir, set(force or []))


def _incomplete_output(run_dir: Path, stage: Stage) -> InputError | None:
    """Why an output of ``stage`` that exists cannot be trusted (a directory whose completion record
    says its files are not one complete write, :func:`selfif.io.completion_error`), or None."""
    for d in dict.fromkeys((run_dir / o).parent for o in stage.outputs):
        if (err := completion_error(d)) is not None:
            return err
    return None


def _run_stages(cfg: PipelineConfig, stages: list[Stage], run_dir: Path, force: set[str]) -> Manifest:
    manifest = Manifest.load(run_dir / MANIFEST)
    atomic_write_json(run_dir / RUN_CONFIG, cfg.model_dump(mode="json"))
    hashes: dict[str, str] = {}
    legacy: dict[str, str] = {}  # the hash manifests recorded before files counted by content
    for stage in stages:
        h = _stage_hash(cfg, stage, hashes)
        hashes[stage.name] = h
        legacy[stage.name] = _stage_hash(cfg, stage, legacy, files_by_content=False)
        rec = manifest.stages.get(stage.name)
        if rec and rec.get("hash") == legacy[stage.name] != h:
            rec["hash"] = h  # same config, recorded under the older hash: not a change
        outputs_exist = all((run_dir / o).exists() for o in stage.outputs)
        if outputs_exist and (broken := _incomplete_output(run_dir, stage)) is not None:
            # Files of two writes side by side are no result: the stage writes them again (it
            # resumes from its own partial files), and nothing downstream reads them meanwhile.
            log.warning("stage %s: %s; running the stage again", stage.name, broken)
            outputs_exist = False
        if rec and rec.get("status") == "done" and rec.get("hash") == h and outputs_exist \
                and stage.name not in force and not stage.always:
            log.info("stage %-10s up to date (%.0f s when run), skipping", stage.name, rec.get("seconds", 0))
            continue
        if rec and (rec.get("hash") != h or stage.name in force):
            # Another config produced what is there: its partial work must not be resumed.
            # Moved aside, not deleted: a config changed by mistake must not cost hours of work.
            for rel in stage.clean:
                if (run_dir / rel).exists():
                    aside = _move_aside(run_dir / rel)
                    log.info("stage %s: config changed, moved the stale %s aside to %s (delete it when not needed)",
                             stage.name, run_dir / rel, aside)
        # Same hash + status "running" = interrupted: the stage resumes from its own partial files.
        manifest.stages[stage.name] = {"hash": h, "status": "running"}
        manifest.save()
        log.info("stage %-10s running", stage.name)
        t0 = time.time()
        mem: dict[str, Any] = {}  # peak RSS of the stage (selfif.memory), filled when it ends
        try:
            with stage_peak() as mem:
                summary = stage.run(cfg, run_dir) or {}
            missing = [o for o in stage.outputs if not (run_dir / o).exists()]
            if missing:
                raise RuntimeError(f"stage {stage.name} finished without writing {missing}")
            if (broken := _incomplete_output(run_dir, stage)) is not None:
                raise broken
        except Exception as e:
            # Recorded so the manifest never claims a dead stage is still running. The hash is
            # kept: a rerun with the same config resumes the stage from its own partial files.
            manifest.stages[stage.name] = {
                "hash": h, "status": "failed", "error": f"{type(e).__name__}: {e}",
                "seconds": round(time.time() - t0, 1), "failed_at": time.strftime("%Y-%m-%dT%H:%M:%S"), **mem,
            }
            manifest.save()
            raise StageFailed(stage.name, e) from e
        manifest.stages[stage.name] = {
            "hash": h,
            "status": "done",
            "seconds": round(time.time() - t0, 1),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **mem,
            "summary": summary,
        }
        manifest.save()
        log.info("stage %-10s done in %.1f s", stage.name, time.time() - t0)
    return manifest


def _check_stage_names(flag: str, given: list[str], stages: list[Stage]) -> None:
    """One message for a stage name a flag (``--force``, ``--until``) gives that no stage has."""
    names = [s.name for s in stages]
    if unknown := [g for g in given if g not in names]:
        raise ValueError(f"{flag} {', '.join(unknown)}: no such stage (stages in order: {', '.join(names)})")


def _stop_after(stages: list[Stage], until: str | None) -> list[Stage]:
    """The stages up to and including ``until`` (all of them when it is None)."""
    if until is None:
        return stages
    _check_stage_names("--until", [until], stages)
    return stages[: [s.name for s in stages].index(until) + 1]


class StageFailed(RuntimeError):
    """A stage raised; ``manifest.json`` already records it as ``failed`` with the message."""

    def __init__(self, stage: str, error: Exception):
        super().__init__(f"stage {stage} failed: {error}")
        self.stage, self.error = stage, error


def register(app: typer.Typer, eval_app: typer.Typer, score_app: typer.Typer) -> None:
    @app.command("run")
    def run_cmd(
        config_arg: Optional[Path] = typer.Argument(None, metavar="[CONFIG]", help="Pipeline preset (YAML), e.g. configs/demo-cpu.yaml (same as --config)."),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="Pipeline preset (YAML)."),
        benchmark: Optional[str] = typer.Option(None, "--benchmark", "-b", help="IFEval benchmark: JSONL file or HF dataset id (overrides eval.benchmark)."),
        run_dir: Optional[str] = typer.Option(None, "--run-dir", help="Output directory (overrides run_dir)."),
        set_: list[str] = typer.Option([], "--set", help="Override a config value: section.key=value (repeatable)."),
        force: list[str] = typer.Option([], "--force", help="Rerun this stage even if up to date (repeatable)."),
        until: Optional[str] = typer.Option(None, "--until", help="Stop after this stage (e.g. train-rm, to share upstream artifacts between runs)."),
    ) -> None:
        """Run the whole pipeline; rerunning resumes and skips up-to-date stages.

        A stage that fails on bad input ends the run with the stage verb's one-line error (exit 2)
        and is marked ``failed`` in manifest.json; rerun to resume it.
        """
        from selfif.clikit import fail, load_preset, user_error_message
        from selfif.stages import pipeline_stages

        if config_arg is not None and config is not None and config_arg != config:
            fail(ValueError(f"two configs given ({config_arg} and --config {config}); give one"))
        overrides = list(set_)
        if benchmark:
            overrides.append(f"eval.benchmark={benchmark}")
        if run_dir:
            overrides.append(f"run_dir={run_dir}")
        cfg = load_preset(config or config_arg, overrides)
        all_stages = pipeline_stages(cfg)  # a leave-types-out split adds its evaluations
        try:
            _check_stage_names("--force", force, all_stages)
            stages = _stop_after(all_stages, until)
        except ValueError as e:
            fail(e)
        try:
            manifest = run_pipeline(cfg, stages, force=force)
        except StageFailed as e:  # already marked failed in manifest.json
            if user_error_message(e.error) is not None:  # the user's (bad input, a path): one line
                fail(e.error)
            raise  # a bug: its traceback
        total = sum(s.get("seconds", 0) for s in manifest.stages.values())
        typer.echo(f"stages recorded: {len(manifest.stages)}, total stage time {total:.0f} s")
        if stages[-1].name != "report":
            typer.echo(f"stopped after stage {stages[-1].name} (--until); rerun without it to go on")
            return
        typer.echo(f"report: {Path(cfg.run_dir) / REPORT}")
        from selfif.report import delta_line

        typer.echo(delta_line(Path(cfg.run_dir)))  # last: each delta with its 95 % interval
