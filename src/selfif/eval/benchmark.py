"""IFEval benchmark rows: loaded from a local JSONL file or, when asked, a Hugging Face dataset.

The official IFEval input file (``input_data.jsonl``) has one row per prompt:
``{"key", "prompt", "instruction_id_list", "kwargs"}`` with one kwargs dict per instruction.
The Hugging Face copy (``google/IFEval``) stores every kwarg name in every dict, the unused ones
as ``null``; we drop ``null`` values so both sources give the same rows (this is what the
official scorer sees when it reads the JSONL file, and the registry rejects unknown kwarg names).

The official file itself ships with the package (``PACKAGED_IFEVAL``, Apache-2.0, see the NOTICE
beside it), so the default benchmark works with no network and nothing beside the repository:
``google/IFEval`` is read from that copy when the hub cannot be reached (``HF_HUB_OFFLINE=1``, or
the download fails). Online, the hub id stays the source, as a user who names it expects.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from selfif.config import DEFAULT_BENCHMARK
from selfif.io import MAX_PROMPT_CHARS, InputError, iter_jsonl_rows, validate_row

log = logging.getLogger(__name__)

# The official IFEval input_data.jsonl (541 rows), package data of selfif.
PACKAGED_IFEVAL = Path(__file__).resolve().parent / "data" / "ifeval_input_data.jsonl"
# Hub datasets with a packaged copy of the same rows, read when the hub cannot supply them.
PACKAGED_COPIES = {DEFAULT_BENCHMARK: PACKAGED_IFEVAL}


class BenchmarkRow(BaseModel):
    """One IFEval prompt with its verifiable instructions."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    key: int | str
    prompt: str = Field(max_length=MAX_PROMPT_CHARS)  # generated from whole: a huge one is rejected at read
    instruction_id_list: list[str] = Field(min_length=1)  # no instruction: nothing to follow, not a 100 % pass
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
    """Unknown instruction ids are a benchmark error (file:line), not a per-response failure.

    Kwargs the checker rejects are not: scoring counts them as not followed and reports them
    (``scores.json`` "errors"), so one odd row does not void an evaluation.
    """
    from selfif.constraints import registry
    from selfif.constraints.base import ConstraintError

    for row, (src, line) in zip(rows, where):
        for iid in row.instruction_id_list:
            try:
                registry.get(iid)
            except ConstraintError as e:
                raise InputError(src, line, f"unknown instruction id {iid!r} ({e})") from None


def load_benchmark(
    source: str | os.PathLike, limit: int | None = None, *, check_ids: bool = True, instruction_types: Sequence[str] | None = None,
) -> list[BenchmarkRow]:
    """Rows of a benchmark: a JSONL path, or a Hugging Face dataset id such as ``google/IFEval``.

    A path that exists (or ends in ``.jsonl``) is read as a file; anything else of the form
    ``owner/name`` is passed to :func:`datasets.load_dataset` (the only case that may touch the
    network, and only because the user named a hub dataset), except that ``google/IFEval`` is read
    from the packaged copy when the hub cannot be reached. ``limit`` keeps the first N rows.
    Bad rows raise :class:`~selfif.io.InputError` naming the file and line (or the dataset row).
    ``instruction_types`` keeps only rows asking for at least one of those ids (before ``limit``).
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    src = str(source)
    path = Path(src).expanduser()
    if path.exists() or _looks_like_path(src):
        rows, where = _load_jsonl(path, None if instruction_types else limit)
    else:
        rows, where = _load_hf(src, None if instruction_types else limit)
    if instruction_types:
        rows, where = _only_types(rows, where, instruction_types, src, limit)
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


def _only_types(rows: list[BenchmarkRow], where: list, types: Sequence[str], src: str, limit: int | None) -> tuple[list, list]:
    """Rows asking for any of ``types`` (first ``limit`` of them): an evaluation focused on the
    formats a run teaches, e.g. a demo that can show an effect on 2 CPU cores."""
    from selfif.constraints import registry
    from selfif.constraints.base import ConstraintError

    for t in types:
        try:
            registry.get(t)
        except ConstraintError:
            raise InputError(src, None, f"unknown instruction type {t!r} in instruction_types") from None
    keep = [i for i, r in enumerate(rows) if set(r.instruction_id_list) & set(types)][:limit]
    if not keep:
        raise InputError(src, None, f"no row asks for any of the instruction types {list(types)}")
    return [rows[i] for i in keep], [where[i] for i in keep]


def _load_jsonl(path: Path, limit: int | None) -> tuple[list[BenchmarkRow], list[tuple[str, int | None]]]:
    """Rows with their line numbers, from the one reader (which validates and locates errors)."""
    rows, where = [], []
    for lineno, row in iter_jsonl_rows(path, BenchmarkRow):
        rows.append(row)
        where.append((str(path), lineno))
        if limit is not None and len(rows) >= limit:
            break
    return rows, where


def _load_hf(dataset_id: str, limit: int | None) -> tuple[list[BenchmarkRow], list[tuple[str, int | None]]]:
    """A hub dataset's rows; its packaged copy when the hub cannot supply them.

    Offline, the packaged copy is read without asking ``datasets`` at all: that would only fail,
    after its own retries. The rows then name the packaged file and its lines."""
    from selfif import hub

    packaged = PACKAGED_COPIES.get(dataset_id)
    if packaged is not None and hub.offline():
        log.info("HF_HUB_OFFLINE is set: reading benchmark %s from its packaged copy %s", dataset_id, packaged)
        return _load_jsonl(packaged, limit)
    import datasets

    log.info("loading benchmark %s with datasets.load_dataset", dataset_id)
    try:
        ds = datasets.load_dataset(dataset_id, split="train")
    except Exception as e:  # noqa: BLE001 - datasets raises many types; all mean "cannot load"
        if packaged is not None:
            log.warning("benchmark %s could not be loaded from the hub (%s); reading its packaged copy %s",
                        dataset_id, hub.reason(e), packaged)
            return _load_jsonl(packaged, limit)
        offline_too = [f"{d} (packaged)" for d in PACKAGED_COPIES]
        raise InputError(dataset_id, None, hub.not_found(
            dataset_id, "benchmark", ["a local IFEval JSONL file", *offline_too], e)) from None
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    rows, where = [], []
    for i, rec in enumerate(ds):
        rows.append(validate_row(BenchmarkRow, rec, f"{dataset_id}[train]", i))
        where.append((f"{dataset_id}[train]", i))
    return rows, where
