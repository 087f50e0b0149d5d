"""IFEval benchmark rows: loaded from a local JSONL file or, when asked, a Hugging Face dataset.

The official IFEval input file (``input_data.jsonl``) has one row per prompt:
``{"key", "prompt", "instruction_id_list", "kwargs"}`` with one kwargs dict per instruction.
The Hugging Face copy (``google/IFEval``) stores every kwarg name in every dict, the unused ones
as ``null``; we drop ``null`` values so both sources give the same rows (this is what the
official scorer sees when it reads the JSONL file, and the registry rejects unknown kwarg names).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from selfif.io import InputError, _pydantic_reason, read_jsonl

log = logging.getLogger(__name__)


class BenchmarkRow(BaseModel):
    """One IFEval prompt with its verifiable instructions."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    key: int | str
    prompt: str
    instruction_id_list: list[str]
    kwargs: list[dict[str, Any]]

    @field_validator("kwargs", mode="before")
    @classmethod
    def _drop_nulls(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{k: x for k, x in d.items() if x is not None} if isinstance(d, dict) else d for d in v]
        return v

    @model_validator(mode="after")
    def _aligned(self) -> "BenchmarkRow":
        if len(self.kwargs) != len(self.instruction_id_list):
            raise ValueError(
                f"instruction_id_list has {len(self.instruction_id_list)} ids but kwargs has "
                f"{len(self.kwargs)} dicts (need one per instruction)"
            )
        if not self.prompt.strip():
            raise ValueError("prompt is empty")
        return self


def _looks_like_path(source: str) -> bool:
    """A missing path should fail as a missing file, not as a failed hub download."""
    return source.endswith((".jsonl", ".json")) or source.startswith((".", "/", "~"))


def _check_ids(rows: list[BenchmarkRow], where: list[tuple[str, int | None]]) -> None:
    """Unknown instruction ids are a benchmark error (file:line), not a per-response failure."""
    from selfif.constraints import registry
    from selfif.constraints.base import ConstraintError

    for row, (src, line) in zip(rows, where):
        for iid in row.instruction_id_list:
            try:
                registry.get(iid)
            except ConstraintError as e:
                raise InputError(src, line, f"unknown instruction id {iid!r} ({e})") from None


def load_benchmark(source: str | os.PathLike, limit: int | None = None, *, check_ids: bool = True) -> list[BenchmarkRow]:
    """Rows of a benchmark: a JSONL path, or a Hugging Face dataset id such as ``google/IFEval``.

    A path that exists (or ends in ``.jsonl``) is read as a file; anything else of the form
    ``owner/name`` is passed to :func:`datasets.load_dataset` (the only case that may touch the
    network, and only because the user named a hub dataset). ``limit`` keeps the first N rows.
    Bad rows raise :class:`~selfif.io.InputError` naming the file and line (or the dataset row).
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    src = str(source)
    path = Path(src).expanduser()
    if path.exists() or _looks_like_path(src):
        rows, where = _load_jsonl(path, limit)
    else:
        rows, where = _load_hf(src, limit)
    if not rows:
        raise InputError(src, None, "benchmark has no rows")
    seen: dict[str, int | None] = {}
    for row, (w, line) in zip(rows, where):
        if row.prompt in seen:
            raise InputError(w, line, f"duplicate prompt (first seen at line {seen[row.prompt]}); prompts must be unique")
        seen[row.prompt] = line
    if check_ids:
        _check_ids(rows, where)
    return rows


def _load_jsonl(path: Path, limit: int | None) -> tuple[list[BenchmarkRow], list[tuple[str, int | None]]]:
    # read_jsonl validates and locates errors; it skips blank lines, so recover line numbers
    # for later checks by counting non-blank lines.
    rows = read_jsonl(path, BenchmarkRow)
    lines = [i for i, ln in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if ln.strip()]
    if limit is not None:
        rows = rows[:limit]
    return rows, [(str(path), ln) for ln in lines[: len(rows)]]


def _load_hf(dataset_id: str, limit: int | None) -> tuple[list[BenchmarkRow], list[tuple[str, int | None]]]:
    import datasets

    log.info("loading benchmark %s with datasets.load_dataset", dataset_id)
    try:
        ds = datasets.load_dataset(dataset_id, split="train")
    except Exception as e:  # noqa: BLE001 - datasets raises many types; all mean "cannot load"
        raise InputError(dataset_id, None, f"not a local file and could not be loaded as a Hugging Face dataset: {e}") from None
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    rows, where = [], []
    for i, rec in enumerate(ds):
        try:
            rows.append(BenchmarkRow.model_validate(rec))
        except ValidationError as e:
            raise InputError(f"{dataset_id}[train]", i, f"expected an IFEval row: {_pydantic_reason(e)}") from None
        where.append((f"{dataset_id}[train]", i))
    return rows, where
