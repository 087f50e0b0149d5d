"""Artifact I/O shared by every stage: JSONL with located errors, atomic writes, resumable appends.

Every stage reads and writes plain files (JSONL / JSON / PNG). Writes of whole artifacts go to a
temp file in the same directory and are renamed into place, so a killed process never leaves a
half-written artifact under the final name. Long-running stages append to a ``.partial.jsonl``
file line by line (flushed + fsynced) and can resume from it; a torn last line left by a kill
is detected and dropped on reopen.
"""

from __future__ import annotations

import codecs
import hashlib
import itertools
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


def file_digest(path: str | os.PathLike) -> str:
    """Short sha256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]

def _pydantic_reason(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(record)"
        parts.append(f"field {loc!r}: {e['msg']}")
    return "; ".join(parts)


MAX_LINE_BYTES = 16 * 1024 * 1024
"""No JSONL line longer than this is decoded: a hostile or corrupt file (one 5 GB line) must end
with a located error, not in the allocator. Every legitimate artifact row (a prompt, a response,
a constraint chain) is far smaller."""

MAX_PROMPT_CHARS = 100_000
"""Longest prompt or seed text an artifact may carry (about 25k tokens, beyond the context of the
models we train). Prompts are tokenized and generated from whole, so a longer one is rejected at
read time with its file:line instead of exhausting memory minutes later."""


def _not_utf8(path: str | os.PathLike, data: bytes, err: UnicodeDecodeError, first_line: int = 1) -> InputError:
    """The located error for undecodable bytes (line counted up to the first bad byte)."""
    return InputError(path, first_line + data.count(b"\n", 0, err.start), "not UTF-8 text")


def locate_not_utf8(path: str | os.PathLike) -> InputError:
    """The located "not UTF-8 text" error for a file a text-mode reader failed to decode: the file
    is scanned again in 1 MiB blocks (only on this error path) to find the line of the bad byte."""
    dec = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            try:
                dec.decode(block)
            except UnicodeDecodeError as e:  # e.object = bytes held back from the last block + block
                return InputError(path, line + block.count(b"\n", 0, max(0, e.start - (len(e.object) - len(block)))), "not UTF-8 text")
            line += block.count(b"\n")
    return InputError(path, line, "not UTF-8 text")  # a sequence cut off by the end of the file


def read_text(path: str | os.PathLike, max_bytes: int | None = None) -> str:
    """A whole (small) text file as UTF-8; a missing file, a file over ``max_bytes`` or
    undecodable bytes raise a located :class:`InputError` instead of ``FileNotFoundError`` /
    ``UnicodeDecodeError`` / a parser that runs for minutes."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, "file does not exist" if not path.exists() else "not a regular file")
    if max_bytes is not None and path.stat().st_size > max_bytes:
        raise InputError(path, None, f"file is larger than the limit of {max_bytes} bytes")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _not_utf8(path, data, e) from None


def read_json(path: str | os.PathLike, max_bytes: int | None = 64 * 1024 * 1024) -> Any:
    """A whole JSON file (settings, audit, checkpoint metadata) with every failure located:
    missing, over ``max_bytes``, not UTF-8, or not valid JSON (``file:line``)."""
    try:
        return json.loads(read_text(path, max_bytes))
    except json.JSONDecodeError as e:
        raise InputError(path, e.lineno, f"not valid JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:
        raise InputError(path, None, "not valid JSON (nested too deeply)") from None


def iter_text_lines(path: str | os.PathLike, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for every line of a UTF-8 file, reading at most
    ``max_line_bytes`` per line; a longer line or undecodable bytes raise a located
    :class:`InputError` naming the limit. Lines end at ``\\n`` only (a lone ``\\r`` is data)."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, None, "file does not exist")
    if path.is_dir():
        raise InputError(path, None, "is a directory, expected a file")
    with path.open("rb") as f:
        for lineno in itertools.count(1):
            raw = f.readline(max_line_bytes + 1)
            if not raw:
                return
            if len(raw) > max_line_bytes:
                raise InputError(path, lineno, f"line is longer than the limit of {max_line_bytes} bytes")
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a UTF-8 byte-order mark (files saved by some editors)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise _not_utf8(path, raw, e, lineno) from None
            yield lineno, text


def iter_jsonl_lines(path: str | os.PathLike, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSONL file of JSON objects.

    An undecodable line, a line over ``max_line_bytes``, or a line that is not a JSON object
    raises :class:`InputError` naming the file and the 1-based line number.
    """
    for lineno, line in iter_text_lines(path, max_line_bytes):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(path, lineno, f"not valid JSON ({e.msg} at column {e.colno})") from None
        except RecursionError:
            raise InputError(path, lineno, "not valid JSON (nested too deeply)") from None
        if not isinstance(obj, dict):
            raise InputError(path, lineno, f"expected a JSON object, got {type(obj).__name__}")
        yield lineno, obj


def validate_row(model: type[M], obj: dict, path: str | os.PathLike, lineno: int | None) -> M:
    """``model.model_validate(obj)`` with a failure reported as a located :class:`InputError`."""
    try:
        return model.model_validate(obj)
    except ValidationError as e:
        raise InputError(path, lineno, f"expected a {model.__name__} record: {_pydantic_reason(e)}") from None


def iter_jsonl_rows(path: str | os.PathLike, model: type[M]) -> Iterator[tuple[int, M]]:
    """``(line_number, validated record)`` pairs, so later checks can name the line too."""
    for lineno, obj in iter_jsonl_lines(path):
        yield lineno, validate_row(model, obj, path, lineno)


def iter_jsonl(path: str | os.PathLike, model: type[M] | None = None) -> Iterator[Any]:
    """Yield records of a JSONL file (validated into ``model`` if given); errors name file and line."""
    if model is None:
        for _, obj in iter_jsonl_lines(path):
            yield obj
    else:
        for _, row in iter_jsonl_rows(path, model):
            yield row


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


class Closing:
    """``with obj:`` closes ``obj`` on exit: one home for the context-manager boilerplate of the
    handles we own (appenders, HTTP clients)."""

    def close(self) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class JsonlAppender(Closing):
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
