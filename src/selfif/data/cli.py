"""``selfif seeds`` and ``selfif synth``.

Settings come from the preset's ``seeds`` / ``synth`` section (``--config``, ``--set``) and
explicit flags override them. Input problems (a bad source row, an unknown constraint id, an
output that would replace an input) raise located errors that the CLI's error boundary
(:mod:`selfif.clikit`) turns into exit code 2 and one line; any other exception is a bug and
keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def _section(config: Optional[Path], overrides: list[str], name: str, flags: dict):
    """The ``name`` section of the preset with non-None ``flags`` applied on top (validated)."""
    from selfif.clikit import load_preset, with_flags

    preset = load_preset(config, overrides)
    section = with_flags(getattr(preset, name), flags)
    if name == "seeds" and section.decontaminate is None:  # the preset's own benchmark, as `selfif run` does
        section = section.model_copy(update={"decontaminate": [preset.eval.benchmark]})
    return section


def register(app: typer.Typer, eval_app: typer.Typer, score_app: typer.Typer) -> None:
    @app.command("seeds")
    def seeds_cmd(
        source: Optional[str] = typer.Option(None, "--source", help="sharegpt (packaged, offline) | JSONL/CSV/JSON path | HF dataset id."),
        column: Optional[str] = typer.Option(None, "--column", help="Prompt column (default: first of prompt/text/instruction)."),
        n: Optional[int] = typer.Option(None, "-n", "--n", min=1, help="How many seeds to keep."),
        out: Path = typer.Option(Path("runs/demo/seeds.jsonl"), "--out", "-o", help="Output JSONL (stats go to <name>.stats.json)."),
        decontaminate: Optional[list[str]] = typer.Option(None, "--decontaminate", help="Benchmark file(s) or HF dataset id(s) whose prompts must not leak into seeds (repeatable; default: the preset's eval.benchmark, google/IFEval)."),
        seed: Optional[int] = typer.Option(None, "--seed"),
        limit_records: Optional[int] = typer.Option(None, "--limit-records", min=1, help="Read only the first N source records (smoke runs)."),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML preset (seeds section)."),
        set_: list[str] = typer.Option([], "--set", help="Override a preset value, e.g. seeds.max_chars=400."),
    ) -> None:
        """Collect seed instructions: filter (English, length, no code, no format constraints), de-duplicate, decontaminate, sample N."""
        from selfif.data.seeds import build_seeds, format_stats, write_seeds

        cfg = _section(config, set_, "seeds", dict(source=source, column=column, n=n, decontaminate=decontaminate, seed=seed))
        seeds, stats = build_seeds(cfg, limit_records=limit_records)
        path, stats_path = write_seeds(seeds, stats, out)
        typer.echo(format_stats(stats))
        typer.echo(f"wrote {path} ({len(seeds)} seeds) and {stats_path}")

    @app.command("synth")
    def synth_cmd(
        seeds: Path = typer.Option(Path("runs/demo/seeds.jsonl"), "--seeds", help="seeds.jsonl from `selfif seeds`."),
        out: Path = typer.Option(Path("runs/demo/curriculum.jsonl"), "--out", "-o"),
        levels: Optional[int] = typer.Option(None, "--levels", help="Constraints per chain (levels L1..L<levels>)."),
        hard_ratio: Optional[float] = typer.Option(None, "--hard-ratio", help="Probability that a constraint is hard (verifiable)."),
        seed: Optional[int] = typer.Option(None, "--seed"),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML preset (synth section)."),
        set_: list[str] = typer.Option([], "--set", help="Override a preset value, e.g. synth.levels=3."),
    ) -> None:
        """Build the incremental curriculum L0..Lk: per seed a chain of compatible, non-repeating constraints."""
        from selfif.data.synth import format_stats, synthesize

        cfg = _section(config, set_, "synth", dict(levels=levels, hard_ratio=hard_ratio, seed=seed))
        stats = synthesize(seeds, out, cfg)
        typer.echo(format_stats(stats))
        typer.echo(f"wrote {out} and {out.with_name(out.name.removesuffix('.jsonl') + '.stats.json')}")
