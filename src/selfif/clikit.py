"""Helpers shared by the stage CLIs, and the CLI's one error boundary.

Error boundary: every verb runs inside :class:`BoundaryGroup` (the ``cls`` of the top-level
Typer app), which turns a user's mistake into exit code 2 and one line ``error: ...``, the last
on stderr, instead of a traceback. What counts as the user's mistake is decided in one place,
:func:`user_error_message`: our located input errors, every ``OSError`` (they name the path the
user gave: an ``--out`` that is a directory, read-only, on a full disk, ...), parser errors
(YAML, JSON, input nested deeper than the recursion limit) and pydantic validation errors. Any
other exception, such as a ``ValueError`` deep inside a stage, is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup


def fail(e: Exception) -> None:
    """End the command with exit code 2 and a one-line reason (``file:line: ...`` for input errors)."""
    typer.echo(f"error: {user_error_message(e) or _one_line(str(e))}", err=True)
    raise typer.Exit(2)


def user_errors() -> tuple[type[Exception], ...]:
    """Our exception types that mean "bad input or settings", and ``OSError`` (a path the user
    named); with the parser and validation errors of :func:`user_error_message` they end a verb
    with exit 2 and one line, as opposed to bugs (traceback).

    Imported lazily: the classes live in modules the stage verbs load anyway, and ``selfif --help``
    should not pay for them.
    """
    from selfif.generation.batches import PromptTooLong
    from selfif.config import ConfigError
    from selfif.constraints.base import ConstraintError
    from selfif.io import InputError
    from selfif.models import ModelNotAvailable

    return (InputError, ConfigError, ConstraintError, ModelNotAvailable, PromptTooLong, OSError)


def _one_line(text: str) -> str:
    """``text`` on one line (multi-line library messages joined with "; ")."""
    return "; ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _os_message(e: OSError) -> str:
    """``PATH: reason`` for an OS error; both paths for a rename or link."""
    reason = e.strerror or type(e).__name__
    if isinstance(e, FileExistsError) and e.filename is not None and e.filename2 is None:
        from pathlib import Path

        if Path(e.filename).exists() and not Path(e.filename).is_dir():  # mkdir of a path that is a file
            reason = "exists and is not a directory"
    if e.filename is None:  # a message-only OSError (ours: FileNotFoundError("... is missing"))
        return str(e) if e.args and e.strerror is None else reason
    where = f"{e.filename}" if e.filename2 is None else f"{e.filename} -> {e.filename2}"
    return f"{where}: {reason}"


def user_error_message(e: BaseException) -> str | None:
    """The one-line reason when ``e`` is the user's mistake (bad input, settings, paths), or
    ``None`` when it is a bug, which must keep its traceback. The one home of this decision."""
    import json

    from pydantic import ValidationError

    if isinstance(e, OSError):
        return _one_line(_os_message(e))
    if isinstance(e, user_errors()):
        return _one_line(str(e))
    if isinstance(e, RecursionError):
        return "input nested too deeply to parse (over Python's recursion limit)"
    if isinstance(e, json.JSONDecodeError):
        return _one_line(f"not valid JSON ({e})")
    if isinstance(e, ValidationError):
        return _one_line(_validation_message(e))
    try:
        import yaml
    except ImportError:  # pragma: no cover - a dependency
        return None
    if isinstance(e, yaml.YAMLError):
        return _one_line(f"not valid YAML ({e})")
    return None


def _validation_message(e: Any) -> str:
    """A pydantic ``ValidationError`` as ``Model: field: reason; ...`` (not its multi-line dump)."""
    parts = [f"{'.'.join(str(x) for x in err['loc']) or '(value)'}: {err['msg']}" for err in e.errors()]
    return f"{e.title}: " + "; ".join(parts)


class BoundaryGroup(TyperGroup):
    """The top-level command group: runs a verb and maps a user error to exit 2 with one line.

    Installed as the ``cls`` of the ``selfif`` Typer app, so it holds for the console script,
    ``python -m selfif`` and ``typer.testing.CliRunner`` alike (all of them invoke this group)."""

    def invoke(self, ctx):
        try:  # typer vendors click from 0.2x on; its usage errors are not click's classes
            from typer._click.exceptions import NoArgsIsHelpError, UsageError
        except ImportError:  # pragma: no cover - an older typer on the real click
            from click.exceptions import NoArgsIsHelpError, UsageError

        try:
            return super().invoke(ctx)
        except NoArgsIsHelpError:
            raise
        except UsageError as e:  # a flag out of bounds, unknown or missing: the same one-line form
            if e.ctx is not None:
                typer.echo(f"Try '{e.ctx.command_path} --help' for help.", err=True)
            typer.echo(f"error: {_one_line(e.format_message())}", err=True)
            raise typer.Exit(2) from None
        except Exception as e:  # noqa: BLE001 - classified below; anything else is re-raised
            msg = user_error_message(e)
            if msg is None:
                raise
            typer.echo(f"error: {msg}", err=True)
            raise typer.Exit(2) from None


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
