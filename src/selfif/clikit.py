"""Helpers shared by the stage CLIs."""

from __future__ import annotations

import typer


def fail(e: Exception) -> None:
    """End the command with exit code 2 and a one-line reason (``file:line: ...`` for input errors)."""
    typer.echo(f"error: {e}", err=True)
    raise typer.Exit(2)


def user_errors() -> tuple[type[Exception], ...]:
    """Exceptions that mean "bad input or settings" (exit 2, one line), as opposed to bugs (traceback).

    Imported lazily: the classes live in modules the stage verbs load anyway, and ``selfif --help``
    should not pay for them.
    """
    from selfif.batches import PromptTooLong
    from selfif.config import ConfigError
    from selfif.constraints.base import ConstraintError
    from selfif.io import InputError
    from selfif.models import ModelNotAvailable

    return (InputError, ConfigError, ConstraintError, ModelNotAvailable, PromptTooLong, FileNotFoundError, FileExistsError)


def flag_error(e: Exception) -> ValueError:
    """A pydantic ``ValidationError`` as one line naming the CLI flags (``--max-length: ...``)."""
    errors = e.errors() if hasattr(e, "errors") else []
    msgs = [f"--{str(x['loc'][-1]).replace('_', '-')}: {x['msg']}" if x.get("loc") else x["msg"] for x in errors]
    return ValueError("; ".join(msgs) or str(e))


def _merge(data: dict, flags: dict) -> dict:
    """``data`` with the non-None ``flags`` on top; a dict flag merges into the sub-section."""
    out = dict(data)
    for key, value in flags.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        elif value is not None:
            out[key] = value
    return out


def with_flags(model, flags: dict):
    """``model`` (a config section) with the flags the user gave (not None) applied, validated;
    a value out of bounds ends the command (exit 2, ``--max-length: ...``).

    This is how every stage verb takes its defaults from the config models: the flag defaults
    are None, the section supplies the value, and an explicit flag wins. Nested sections take a
    dict: ``with_flags(cfg.eval, {"limit": 5, "generation": {"seed": 1}})``.
    """
    from pydantic import ValidationError

    try:
        return type(model).model_validate(_merge(model.model_dump(), flags))
    except ValidationError as e:
        fail(flag_error(e))


def load_preset(config, overrides: list[str]):
    """The pipeline config of ``--config``/``--set`` (defaults when no file), or exit 2 with the reason."""
    from selfif.config import ConfigError, load_config

    try:
        return load_config(config, overrides)
    except ConfigError as e:
        fail(e)


def out_option(out, legacy, default):
    """``--out`` is the one spelling for a stage's output (file or directory); ``--out-dir`` is its
    deprecated alias, kept hidden so that existing commands keep working."""
    if out is not None and legacy is not None and out != legacy:
        fail(ValueError(f"--out {out} and --out-dir {legacy} disagree; use --out only"))
    if legacy is not None:
        typer.echo("note: --out-dir is deprecated, use --out", err=True)
    return out if out is not None else legacy if legacy is not None else default


def from_preset(key: str) -> str:
    """``--help`` text for a flag whose default comes from the preset: ``rm.epochs = 3`` (the built-in value)."""
    from selfif.config import PipelineConfig

    node = PipelineConfig()
    for part in key.split("."):
        node = getattr(node, part)
    return f"{key} = {node}"
