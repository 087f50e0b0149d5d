"""``selfif constraints``: browse the constraint registry (list types, render sampled instances).

Useful before a synthesis run to see what instructions the curriculum will contain.
"""

from __future__ import annotations

import json
import random
from typing import Optional

import typer


def constraints_cmd(
    kind: Optional[str] = typer.Option(None, "--kind", help="Only 'hard' or 'soft' types."),
    show: Optional[str] = typer.Option(None, "--show", help="Render sampled instances of this type id."),
    n: int = typer.Option(3, "--n", min=1, help="How many instances --show renders."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed for --show."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List constraint types as a table (id, kind, category, #templates, graded), or --show ID."""
    from rich.console import Console
    from rich.table import Table

    from selfif.constraints import registry

    if kind not in (None, "hard", "soft"):
        raise typer.BadParameter("must be 'hard' or 'soft'", param_hint="--kind")
    console = Console()
    if show is not None:
        try:
            ctype = registry.get(show)
        except registry.ConstraintError as e:
            raise typer.BadParameter(str(e), param_hint="--show") from None
        rng = random.Random(seed)
        instances = [ctype.instance(rng) for _ in range(n)]
        if as_json:
            typer.echo("\n".join(json.dumps(i.model_dump(), ensure_ascii=False) for i in instances))
            return
        console.print(f"[bold]{ctype.id}[/bold] ({ctype.kind}, {ctype.category}): {ctype.description}")
        for inst in instances:
            console.print(f"  kwargs={json.dumps(inst.kwargs, ensure_ascii=False)}")
            console.print(f"  -> {inst.text}")
        return
    types = registry.all_types(kind)  # type: ignore[arg-type]
    if as_json:
        rows = [
            {"id": t.id, "kind": t.kind, "category": t.category, "templates": len(t.templates), "graded": t.graded is not None, "ifeval": t.ifeval}
            for t in types
        ]
        typer.echo(json.dumps(rows, indent=1))
        return
    table = Table(title=f"{len(types)} constraint types")
    table.add_column("id", overflow="fold")
    for col in ("kind", "category", "#templates", "graded", "IFEval"):
        table.add_column(col, overflow="fold")
    for t in types:
        table.add_row(t.id, t.kind, t.category, str(len(t.templates)), "yes" if t.graded else "", "yes" if t.ifeval else "")
    console.print(table)


def register(app: typer.Typer, eval_app: typer.Typer, score_app: typer.Typer) -> None:
    app.command("constraints")(constraints_cmd)
