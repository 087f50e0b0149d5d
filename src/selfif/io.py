"""Artifact I/O shared by every stage: JSONL with located errors, atomic writes, resumable appends.

Every stage reads and writes plain files (JSONL / JSON / PNG). Writes of whole artifacts go to a
temp file in the same directory and are renamed into place, so a killed process never leaves a
half-written artifact under the final name. Long-running stages append to a ``.partial.jsonl``
file line by line (flushed + fsynced) and can resume from it; a torn last line left by a kill
is detected and dropped on reopen.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class InputError(ValueError):
    """Bad user input, located: ``file:line: what was expected``."""

    def __init__(self, path: str | os.PathLike, line: int | None, message: str):
        self.path, self.line, self.message = str(path), line, message
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")


def _pydantic_reason(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(record)"
        parts.append(f"field {loc!r}: {e['msg']}")
    return "; ".join(parts)


def iter_jsonl_lines(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSONL file of JSON objects.

    An undecodable line or a line that is not a JSON object raises :class:`InputError` naming the
    file and the 1-based line number.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, None, "file does not exist")
    with path.open("r", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(path, lineno, f"not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(obj, dict):
                raise InputError(path, lineno, f"expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


def iter_jsonl(path: str | os.PathLike, model: type[M] | None = None) -> Iterator[Any]:
    """Yield records of a JSONL file (validated into ``model`` if given); errors name file and line."""
    for lineno, obj in iter_jsonl_lines(path):
        if model is None:
            yield obj
            continue
        try:
            yield model.model_validate(obj)
        except ValidationError as e:
            raise InputError(path, lineno, f"expected a {model.__name__} record: {_pydantic_reason(e)}") from None


def read_jsonl(path: str | os.PathLike, model: type[M] | None = None) -> list[Any]:
    return list(iter_jsonl(path, model))


def _dump(obj: Any) -> str:
    if isinstance(obj, BaseModel):
        return obj.model_dump_json()
    return json.dumps(obj, ensure_ascii=False)


def _read_umask() -> int:
    mask = os.umask(0)  # the only portable way to read it; done once, at import, before threads start
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` via temp file + fsync + rename (never a torn artifact).

    The file gets the permissions an ordinary ``open()`` would give (mkstemp's are 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> Path:
    """Atomically write an iterable of dicts / pydantic models as JSONL."""
    return atomic_write_text(path, "".join(_dump(r) + "\n" for r in rows))


class JsonlAppender:
    """Append-only JSONL log for resumable stages.

    On open, a torn final line (a process killed mid-write) is truncated away, so the file
    always holds whole records. Each :meth:`write` flushes and fsyncs: a record written is a
    record kept.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair()
        self._f = self.path.open("a", encoding="utf-8")

    def _repair(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1  # 0 when the only line is torn
        with self.path.open("r+b") as f:
            f.truncate(cut)

    def existing(self) -> list[dict]:
        """Records already in the file (after repair)."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return []
        return read_jsonl(self.path)

    def write(self, row: Any) -> None:
        self._f.write(_dump(row) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
