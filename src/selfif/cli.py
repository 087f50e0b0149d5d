"""The ``selfif`` command line. One verb per pipeline stage; each stage module registers its own.

Heavy imports (torch, transformers, TRL) happen inside the commands, so ``selfif --help`` is fast.
"""

from __future__ import annotations

import importlib
import logging

import typer

app = typer.Typer(
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


for _mod in STAGE_MODULES:
    importlib.import_module(_mod).register(app, eval_app, score_app)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # `python -m selfif.cli` (what `accelerate launch -m selfif.cli` runs)
    main()
