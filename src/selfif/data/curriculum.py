"""The curriculum row (one line of ``curriculum.jsonl``) and its one reader.

``selfif synth`` writes these rows; ``selfif label`` and ``selfif train`` read them through
:func:`iter_curriculum` / :func:`read_curriculum`, so there is one schema and one set of checks:
every problem is reported as ``file:line: ...`` (the line comes from the reader itself, never
re-derived by reading the file twice), and a row is checked completely -- size bound, level =
number of constraints, unique ``(seed_id, level)``, known constraint ids with valid kwargs --
before any model is loaded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from selfif.constraints.base import ConstraintError, ConstraintInstance
from selfif.io import MAX_PROMPT_CHARS, InputError, iter_jsonl_rows


class CurriculumRow(BaseModel):
    """One line of ``curriculum.jsonl`` (docs/artifacts.md): level ``k`` = seed + first k constraints.

    Unknown fields are errors (a typo must not be silently dropped); the text fields are bounded
    by :data:`selfif.io.MAX_PROMPT_CHARS` because prompts are tokenized whole.
    """

    model_config = ConfigDict(extra="forbid")
    seed_id: str = Field(min_length=1)
    level: int = Field(ge=0)
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    seed_text: str = Field(max_length=MAX_PROMPT_CHARS)
    constraints: list[ConstraintInstance]


def check_constraint(c: ConstraintInstance) -> None:
    """A stored constraint must name a registered type of the same kind; a hard one must also
    carry kwargs its verifier accepts (a soft one is judged by the RM from its text, so its
    kwargs are only how the text was rendered).

    Raises :class:`ConstraintError`; readers turn it into a located :class:`InputError`.
    """
    from selfif.constraints import registry

    ctype = registry.get(c.id)
    if ctype.kind != c.kind:
        raise ConstraintError(f"{c.id} is a {ctype.kind} constraint, but the row says kind {c.kind!r}")
    if ctype.kind == "hard":
        ctype.check_kwargs(c.kwargs)


Check = Callable[[CurriculumRow], None]


def iter_curriculum(path: str | os.PathLike, *, check: Check | None = None) -> Iterator[tuple[int, CurriculumRow]]:
    """``(line number, row)`` for every row, each fully checked before it is yielded.

    ``check``: an extra per-row test (e.g. "soft constraints need a reward model"); a
    ``ValueError`` from it is reported at the row's line.
    """
    seen: dict[tuple[str, int], int] = {}
    for lineno, row in iter_jsonl_rows(path, CurriculumRow):
        key = (row.seed_id, row.level)
        if key in seen:
            raise InputError(path, lineno, f"(seed_id, level) {key} appears twice (first at line {seen[key]})")
        seen[key] = lineno
        if len(row.constraints) != row.level:
            raise InputError(path, lineno, f"level {row.level} row must carry exactly {row.level} constraints, has {len(row.constraints)}")
        try:
            if check is not None:  # the caller's test first: its reason is the more specific one
                check(row)
            for c in row.constraints:
                check_constraint(c)
        except ValueError as e:  # ConstraintError is a ValueError
            raise InputError(path, lineno, str(e)) from None
        yield lineno, row


def read_curriculum(path: str | os.PathLike, *, check: Check | None = None) -> list[CurriculumRow]:
    """All rows of ``curriculum.jsonl``, checked (see :func:`iter_curriculum`); empty is an error."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, None, "curriculum file does not exist (make it with `selfif synth`)")
    rows = [row for _, row in iter_curriculum(path, check=check)]
    if not rows:
        raise InputError(path, None, "no rows in curriculum (expected output of `selfif synth`)")
    return rows
