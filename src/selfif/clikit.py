"""Helpers shared by the stage CLIs."""

from __future__ import annotations

import typer


def fail(e: Exception) -> None:
    """End the command with exit code 2 and a one-line reason (``file:line: ...`` for input errors)."""
    typer.echo(f"error: {e}", err=True)
    raise typer.Exit(2)
