"""``selfif train``: GRPO on the curriculum (or, with ``--dry-run``, print the launch commands).

Rerunning the same command after an interruption resumes from the newest complete checkpoint
in ``--out``. Bad input and contradictory settings raise located errors that the CLI's error
boundary (:mod:`selfif.clikit`) turns into exit code 2 and one line naming the problem; one
process at a time trains into ``--out`` (its ``.selfif.lock``; a second one exits 2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from selfif.clikit import fail


def _one_trainer(out_dir: Path):
    """The lock of the run directory (:func:`selfif.io.exclusive_lock`): two trainings into one
    ``--out`` would interleave their checkpoints. Under ``accelerate launch`` every process of the
    one run runs this command with the same ``--out``; only the process of global rank 0 (``RANK``,
    set by the launcher; absent for a single process) takes the lock, so the run's own processes
    never refuse each other while a second run is refused by rank 0's lock."""
    import contextlib
    import os

    from selfif.io import exclusive_lock

    if os.environ.get("RANK", "0").strip() not in ("", "0"):
        return contextlib.nullcontext()
    return exclusive_lock(out_dir, inside=True)


def register(app: typer.Typer, eval_app: typer.Typer, score_app: typer.Typer) -> None:
    @app.command("train")
    def train_cmd(
        curriculum: Path = typer.Option(..., "--curriculum", help="curriculum.jsonl from `selfif synth`."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory: checkpoints, final/, plots/, train_summary.json (required)."),
        out_dir: Optional[Path] = typer.Option(None, "--out-dir", hidden=True, help="Deprecated spelling of --out."),
        model: Optional[str] = typer.Option(None, "--model", "-m", help="Policy: alias (smollm2-135m), directory or HF id. Default: config's train.model / model."),
        rm: Optional[Path] = typer.Option(None, "--rm", help="Reward-model checkpoint from `selfif train-rm` (scored in-process)."),
        rm_url: Optional[str] = typer.Option(None, "--rm-url", help="URL of a running `selfif serve-rm` (instead of --rm)."),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="Pipeline YAML preset (configs/*.yaml); its train/reward sections apply."),
        overrides: list[str] = typer.Option([], "--set", help="Override a config value, e.g. --set train.max_steps=50 (repeatable)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Validate the config and print the launch commands; train nothing."),
        no_resume: bool = typer.Option(False, "--no-resume", help="Ignore checkpoints in --out and start over."),
    ) -> None:
        """Train the policy with GRPO (TRL) on curriculum levels >= 1 with the instruction reward.

        Without --rm/--rm-url only hard (code-verified) constraints can be rewarded; a curriculum
        with soft constraints then fails up front.
        """
        from selfif.clikit import load_preset, out_option

        out_dir = out_option(out, out_dir, None)
        if out_dir is None:
            fail(ValueError("missing option --out (the training run directory)"))
        cfg = load_preset(config, overrides)
        if dry_run:
            from selfif.rl.launch import format_plan, plan

            p = plan(cfg, curriculum=str(curriculum), out_dir=str(out_dir), config_path=str(config) if config else None,
                     overrides=list(overrides), rm=str(rm) if rm else None, rm_url=rm_url, model=model)
            if not curriculum.exists():
                p["checks"].append(f"note: {curriculum} does not exist yet (make it with `selfif synth`)")
            typer.echo(format_plan(p))
            return

        from selfif.data.curriculum import read_curriculum

        read_curriculum(curriculum)  # every row, before the slow imports (torch, TRL); train_policy checks it against the reward too
        with _one_trainer(out_dir):  # also before the slow imports: a second run is refused at once
            from selfif.rl.trainer import train_policy

            summary = train_policy(cfg, curriculum, out_dir, model=model, rm_dir=rm, rm_url=rm_url, resume=not no_resume)
        keys = ("global_step", "reward_first", "reward_final", "reward_mean", "hard_mean", "soft_mean", "time_per_step_s",
                "guidance_share_mean", "final_dir")
        typer.echo(json.dumps({k: summary.get(k) for k in keys}, indent=2))
