"""``selfif train``: GRPO on the curriculum (or, with ``--dry-run``, print the launch commands).

Rerunning the same command after an interruption resumes from the newest complete checkpoint
in ``--out-dir``. Bad input ends the command with exit code 2 and one line naming the problem.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from selfif.clikit import fail


def register(app: typer.Typer, eval_app: typer.Typer, score_app: typer.Typer) -> None:
    @app.command("train")
    def train_cmd(
        curriculum: Path = typer.Option(..., "--curriculum", help="curriculum.jsonl from `selfif synth`."),
        out_dir: Path = typer.Option(..., "--out-dir", "-o", help="Run directory: checkpoints, final/, plots/, train_summary.json."),
        model: Optional[str] = typer.Option(None, "--model", help="Policy: alias (smollm2-135m), directory or HF id. Default: config's train.model / model."),
        rm: Optional[Path] = typer.Option(None, "--rm", help="Reward-model checkpoint from `selfif train-rm` (scored in-process)."),
        rm_url: Optional[str] = typer.Option(None, "--rm-url", help="URL of a running `selfif serve-rm` (instead of --rm)."),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="Pipeline YAML preset (configs/*.yaml); its train/reward sections apply."),
        overrides: list[str] = typer.Option([], "--set", help="Override a config value, e.g. --set train.max_steps=50 (repeatable)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Validate the config and print the launch commands; train nothing."),
        no_resume: bool = typer.Option(False, "--no-resume", help="Ignore checkpoints in --out-dir and start over."),
    ) -> None:
        """Train the policy with GRPO (TRL) on curriculum levels >= 1 with the instruction reward.

        Without --rm/--rm-url only hard (code-verified) constraints can be rewarded; a curriculum
        with soft constraints then fails up front.
        """
        from selfif.config import ConfigError, load_config
        from selfif.io import InputError

        try:
            cfg = load_config(config, overrides)
        except ConfigError as e:
            fail(e)
        if dry_run:
            from selfif.rl.launch import format_plan, plan

            try:
                p = plan(cfg, curriculum=str(curriculum), out_dir=str(out_dir), config_path=str(config) if config else None,
                         overrides=list(overrides), rm=str(rm) if rm else None, rm_url=rm_url, model=model)
            except (ValueError, FileNotFoundError) as e:
                fail(e)
            if not curriculum.exists():
                p["checks"].append(f"note: {curriculum} does not exist yet (make it with `selfif synth`)")
            typer.echo(format_plan(p))
            return

        if not curriculum.exists():  # before the slow imports
            fail(InputError(curriculum, None, "curriculum file does not exist (make it with `selfif synth`)"))
        from selfif.models import ModelNotAvailable
        from selfif.rl.trainer import train_policy

        try:
            summary = train_policy(cfg, curriculum, out_dir, model=model, rm_dir=rm, rm_url=rm_url, resume=not no_resume)
        except (InputError, ModelNotAvailable, FileNotFoundError, ValueError) as e:
            fail(e)
        keys = ("global_step", "reward_first", "reward_final", "reward_mean", "hard_mean", "soft_mean", "time_per_step_s", "final_dir")
        typer.echo(json.dumps({k: summary.get(k) for k in keys}, indent=2))
