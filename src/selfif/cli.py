"""The ``selfif`` command line. One verb per pipeline stage; each stage module registers its own.

Heavy imports (torch, transformers, TRL) happen inside the commands, so ``selfif --help`` is fast.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Optional

import typer

from selfif.clikit import BoundaryGroup

app = typer.Typer(
    cls=BoundaryGroup,  # the one error boundary: a user error is exit 2 and one `error:` line (selfif.clikit)
    add_completion=False,
    no_args_is_help=True,
    help="Self-supervised RL for multi-constraint instruction following (seeds -> synth -> label -> train-rm -> train -> eval).",
)
eval_app = typer.Typer(no_args_is_help=True, help="Generate with a model and score it on a benchmark.")
score_app = typer.Typer(no_args_is_help=True, help="Score an existing responses file on a benchmark.")
app.add_typer(eval_app, name="eval")
app.add_typer(score_app, name="score")

# Each module defines ``register(app, eval_app, score_app)``. Order = data flow.
STAGE_MODULES = [
    "selfif.constraints.cli",  # selfif constraints
    "selfif.data.cli",  # selfif seeds, selfif synth
    "selfif.labeling.cli",  # selfif label
    "selfif.reward.cli",  # selfif train-rm, selfif serve-rm
    "selfif.rl.cli",  # selfif train
    "selfif.eval.cli",  # selfif eval ifeval, selfif score ifeval
    "selfif.pipeline",  # selfif run
]


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    from selfif.memory import limit_heap_retention

    limit_heap_retention()  # freed GRPO/eval tensors go back to the OS instead of staying resident


for _mod in STAGE_MODULES:
    importlib.import_module(_mod).register(app, eval_app, score_app)


def _bounds(field) -> str:
    """``>= 1, <= 10`` from a pydantic field's annotated-types metadata."""
    ops = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    return ", ".join(f"{sym} {getattr(m, k)}" for m in field.metadata for k, sym in ops.items() if hasattr(m, k))


def explain(model, indent: str = "", with_help: bool = True) -> list[str]:
    """The config as YAML, each key followed by its description and bounds as a comment."""
    import yaml
    from pydantic import BaseModel

    lines = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        note = " ".join(x for x in (field.description or "", f"[{_bounds(field)}]" if _bounds(field) else "") if x)
        comment = f"  # {note}" if with_help and note else ""
        if isinstance(value, BaseModel):
            lines += [f"{indent}{name}:{comment}", *explain(value, indent + "  ", with_help)]
        else:
            dumped = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()
            lines.append(f"{indent}{name}: {dumped}{comment}")
    return lines


@app.command("config")
def config_cmd(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML preset (default: the built-in defaults)."),
    set_: list[str] = typer.Option([], "--set", help="Override a value: section.key=value (repeatable)."),
    explain_: bool = typer.Option(False, "--explain", help="Add each field's description and bounds as a comment."),
) -> None:
    """Print the resolved configuration (preset + overrides) as YAML; --explain documents every field."""
    from selfif.clikit import load_preset

    typer.echo("\n".join(explain(load_preset(config, set_), with_help=explain_)))


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # `python -m selfif.cli` (what `accelerate launch -m selfif.cli` runs)
    main()
