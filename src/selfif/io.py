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
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from selfif.layout import COMPLETE, LOCK, lock_beside

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
    text = read_text(path, max_bytes)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(path, e.lineno, f"not valid JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:
        raise InputError(path, None, "not valid JSON (nested too deeply)") from None
    except ValueError as e:  # an integer over Python's digit limit (int_max_str_digits)
        raise InputError(path, None, f"not valid JSON ({e})") from None
    if "\\ud" in text or "\\uD" in text:  # only an escape can carry a surrogate
        check_text(obj, path, None)
    return obj


def check_text(obj: Any, path: str | os.PathLike, lineno: int | None) -> None:
    """Reject a lone surrogate (``"\\ud800"``) in a decoded JSON value: JSON's escapes allow it,
    but it is not text, and no UTF-8 artifact could hold it; caught at read time, at its line,
    not as a ``UnicodeEncodeError`` when the result is written after all the work."""
    try:
        (obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)).encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(path, lineno, "holds a lone surrogate escape (e.g. \"\\ud800\"), which is not text") from None


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
        except ValueError as e:  # an integer over Python's digit limit (int_max_str_digits)
            raise InputError(path, lineno, f"not valid JSON ({e})") from None
        if not isinstance(obj, dict):
            raise InputError(path, lineno, f"expected a JSON object, got {type(obj).__name__}")
        if "\\ud" in line or "\\uD" in line:  # only an escape can carry a surrogate
            check_text(obj, path, lineno)
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


def json_safe(obj: Any) -> Any:
    """``obj`` with every inf/nan float spelled as a string (``"inf"``, ``"nan"``): for echoing a
    user's values (a benchmark's kwargs) into an artifact, since the writers refuse non-JSON constants."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return repr(obj)
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def _dump(obj: Any) -> str:
    if isinstance(obj, BaseModel):
        return obj.model_dump_json()
    return json.dumps(obj, ensure_ascii=False, allow_nan=False)  # JSON has no NaN/Infinity: fail, never write them


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
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.filename in (None, tmp):  # name the artifact, not our temp file
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False, allow_nan=False) + "\n")


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


# --- Outputs that are never lost or mixed up -------------------------------------------------
# Three rules, each with one home here: an output never replaces an input (check_inputs_survive);
# files that belong together are committed together, and a reader can tell when they were not
# (output_set, completion_error); one output has one writer at a time (exclusive_lock).


def check_inputs_survive(outputs: Iterable[str | os.PathLike], inputs: Iterable[str | os.PathLike | None]) -> None:
    """Raise :class:`InputError`, naming the input, when writing one of ``outputs`` would replace
    one of ``inputs`` (``score ifeval X/responses.jsonl --out X``).

    Compared as files (``os.path.samefile``): ``X/responses.jsonl``, ``X/../X/responses.jsonl``
    and a symlink to it are one file. An input that does not exist cannot be replaced.
    """
    existing = [Path(i) for i in inputs if i is not None and Path(i).is_file()]
    for out in map(Path, outputs):
        if not existing or not out.exists():
            continue
        for inp in existing:
            if os.path.samefile(out, inp):
                alias = "" if os.path.abspath(out) == os.path.abspath(inp) else f" (as {out})"
                raise InputError(inp, None, f"is an input of this command, and writing its outputs would replace it{alias}; "
                                            "write them to another place (another --out)")


def _fsync_dir(path: Path) -> None:
    """Make renames in ``path`` durable (a no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def output_set(out_dir: str | os.PathLike, names: Sequence[str], *, inputs: Iterable[str | os.PathLike | None] = (),
               record: str | None = COMPLETE) -> Iterator[Path]:
    """Write files that only make sense together (an evaluation's per-row results and its scores,
    seeds and their statistics): all of them, or none.

    The body writes the files, each under its name in ``names``, into the yielded staging
    directory. It lives inside ``out_dir``, so each move below is a rename on one filesystem.
    Until the body has finished nothing in ``out_dir`` changes: a full disk or an error part-way
    leaves the earlier outputs as they were, byte for byte. Then, with ``record``, the record file
    is written first saying ``"complete": false``, the files are renamed into place, and the record
    is written again, last, saying ``true`` and listing each file's size and sha256 digest. A
    process killed among the renames leaves a record that says incomplete, which
    :func:`completion_error` reports to every reader; rerunning the writer completes the set.
    Without ``record`` (a pair of files in a directory shared with other outputs) the renames
    remain, a window of microseconds. No output may replace one of ``inputs``
    (:func:`check_inputs_survive`).

    Call it while holding the output's lock (:func:`exclusive_lock`): staging directories left
    by a killed writer of the same set are removed here.
    """
    out_dir, names = Path(out_dir), tuple(names)
    check_inputs_survive([out_dir / n for n in names], inputs)
    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = f".{names[0]}.staging-"
    for stale in out_dir.glob(prefix + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=out_dir))
    try:
        yield staging
        written = sorted(p.name for p in staging.iterdir())
        if extra := set(written) - set(names):
            raise ValueError(f"{out_dir}: the writer staged undeclared files {sorted(extra)}")  # a bug, not input
        files = {}
        for name in written:
            with open(staging / name, "rb") as f:
                os.fsync(f.fileno())  # on disk before the rename makes it the output
            files[name] = {"bytes": (staging / name).stat().st_size, "sha256": file_digest(staging / name)}
        if record is not None:
            atomic_write_json(out_dir / record, {"complete": False, "files": files})
        for name in written:
            os.replace(staging / name, out_dir / name)
        _fsync_dir(out_dir)
        if record is not None:
            atomic_write_json(out_dir / record, {"complete": True, "files": files})
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def completion_error(out_dir: str | os.PathLike, record: str = COMPLETE) -> InputError | None:
    """Why the files of ``out_dir`` must not be read as one result, or ``None`` when they may.

    The record (see :func:`output_set`) says incomplete (a write was interrupted), or a file it
    lists is missing or differs from what was written (files of two writes mixed, or edited).
    A directory without a record is taken as it is: it was written before records existed (or
    by hand), and a writer that records never leaves one without it once it starts renaming.
    """
    out_dir = Path(out_dir)
    path = out_dir / record
    if not path.exists():
        return None
    rerun = "rerun the command that wrote it to complete it"
    try:
        rec = read_json(path, max_bytes=1 << 20)
    except InputError as e:
        return e
    files = rec.get("files") if isinstance(rec, dict) else None
    if not isinstance(files, dict) or not isinstance(rec.get("complete"), bool) \
            or not all(isinstance(k, str) and Path(k).name == k and isinstance(v, dict) for k, v in files.items()):
        return InputError(path, None, 'not a completion record (expected {"complete": true|false, "files": {NAME: {"bytes", "sha256"}}})')
    if not rec["complete"]:
        return InputError(out_dir, None, f"incomplete: writing its files was interrupted ({record} says so); {rerun}")
    for name, want in files.items():
        f = out_dir / name
        if not f.is_file():
            return InputError(f, None, f"missing, though {path} lists it; {rerun}")
        if f.stat().st_size != want.get("bytes") or file_digest(f) != want.get("sha256"):
            return InputError(f, None, f"differs from the file {path} records (files of two writes mixed, or edited); {rerun}")
    return None


def check_complete(out_dir: str | os.PathLike, record: str = COMPLETE) -> None:
    """Raise :func:`completion_error`'s error, if any (for readers of a directory of results)."""
    if (err := completion_error(out_dir, record)) is not None:
        raise err


class Busy(InputError):
    """Another process holds the lock of an output this command would write."""


def _write_pid(fd: int) -> None:
    """filelock's ``on_acquired`` hook: note who holds the lock, for the next process's message."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


def _holder(lock_file: Path) -> str:
    try:
        pid = lock_file.read_text(encoding="ascii", errors="replace").strip()
    except OSError:  # e.g. Windows, where the holder's lock keeps others from reading
        pid = ""
    return f"PID {pid}" if pid.isdigit() else "PID unknown"


@contextmanager
def exclusive_lock(target: str | os.PathLike, *, inside: bool) -> Iterator[Path]:
    """Hold the lock of the output ``target`` for the body (yields the lock file), or raise
    :class:`Busy` naming the PID of the process that holds it.

    Two processes writing one output at once mix their results (one run's config.json next to
    the other's seeds); the second must stop before it writes anything. ``inside``: the lock file
    is ``target/.selfif.lock``, for a directory written in place (a run directory, an evaluation
    directory); otherwise ``.NAME.lock`` beside ``target``, for an output replaced by a rename
    (a file, a reward-model directory).

    The lock is ``filelock``'s: an OS lock (``flock`` on POSIX, ``LockFileEx`` on Windows) that
    the kernel drops when its holder dies, so a killed process never leaves a stale lock. The
    holder writes its PID into the file and deletes the file before it lets go, so a finished
    command leaves nothing behind; a process that opened the file just before cannot take the
    deleted inode (filelock checks its link count after locking and starts over). Only a killed
    holder leaves the file, with its PID, and the next lock reuses it. Not re-entrant: take each
    lock once per process.
    """
    from filelock import FileLock, Timeout

    target = Path(target)
    lock_file = target / LOCK if inside else lock_beside(target)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_file, timeout=0, on_acquired=_write_pid)
    try:
        lock.acquire()
    except Timeout:
        raise Busy(target, None, f"in use by another process ({_holder(lock_file)} holds {lock_file}); "
                                 "wait for it to finish, or stop it") from None
    try:
        yield lock_file
    finally:
        try:
            lock_file.unlink(missing_ok=True)
        finally:
            lock.release()
