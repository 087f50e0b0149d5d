"""The typed constraint model: a constraint *type* (registry entry) and a constraint *instance*.

A type is data plus behaviour: its id, kind (``hard`` checkable by code, ``soft`` judged by the
reward model), category, a parameter sampler, several natural-language templates, and, for hard
types, one pure ``verify(response, **kwargs) -> bool``. Types register themselves in
:mod:`selfif.constraints.registry`; everything downstream refers to them by id only.

An instance is what travels in artifacts (synthesised instructions, pseudo-label pairs, RL
prompts): ``{"id", "kind", "kwargs", "text"}``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["hard", "soft"]


class ConstraintError(ValueError):
    """Unknown constraint id or kwargs that do not fit the type's schema (fail closed)."""


class ConstraintInstance(BaseModel):
    """One concrete constraint as stored in artifacts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    kind: Kind
    kwargs: dict[str, Any] = Field(default_factory=dict)
    text: str = ""


def compare(value: int, relation: str, threshold: int) -> bool:
    """IFEval's two relations: ``"less than"`` is ``<``, anything else (``"at least"``) ``>=``."""
    return value < threshold if relation == "less than" else value >= threshold


def _check_type(type_id: str, name: str, value: Any, spec: Any) -> None:
    if spec is None:
        return
    if spec is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        what = "an integer"
    elif spec is str:
        ok = isinstance(value, str) and bool(value.strip())
        what = "a non-empty string"
    elif spec is list:
        ok = (
            isinstance(value, (list, tuple))
            and len(value) > 0
            and all(isinstance(v, str) and v.strip() for v in value)
        )
        what = "a non-empty list of non-empty strings"
    else:  # pragma: no cover - programming error in a type definition
        raise TypeError(f"{type_id}: bad kwarg type spec {spec!r}")
    if not ok:
        raise ConstraintError(f"{type_id}: kwarg {name!r} must be {what}, got {value!r}")


@dataclass(frozen=True)
class Arg:
    """One keyword argument of a type: the kind of value it takes and whether it must be given.

    ``type`` is ``int``, ``str`` (non-blank), ``list`` (non-empty list of non-blank strings) or
    ``None`` (any value; the type's ``validate`` checks it).
    """

    type: Any = None
    required: bool = True


# Repair order of a chain (``ConstraintType.repair_rank``, low first). Later edits must not undo
# earlier ones: content edits (insert/drop words) first, then the layout is rebuilt from the
# edited text, markup is added inside it, then things are added at the edges, length budgets cut
# body sentences (keeping what the edges added), the request is prefixed, the case is changed
# over everything (prefix and title included), and the whole is wrapped last.
RANK_CONTENT = 10
RANK_LAYOUT = 30
RANK_MARKUP = 40
RANK_EDGE = 50
RANK_BUDGET = 55
RANK_PREFIX = 60
RANK_CASE = 70
RANK_WRAP = 90


@dataclass(frozen=True)
class ConstraintType:
    """A registry entry. ``verify`` (and ``repair``) are ``None`` for soft types.

    ``args`` maps each kwarg name to its :class:`Arg` (the one description of the arguments);
    ``sample(rng)`` draws kwargs; ``templates`` are ``str.format`` strings over those kwargs
    (formatted via :meth:`render`, which may preprocess values with ``format_kwargs``).
    ``graded`` optionally maps (response, kwargs) to a score in [0, 1] for reward shaping.
    ``repair(response, **kwargs)`` returns a minimally edited response that the strict verifier
    accepts, or ``None`` when no honest edit exists; chains apply repairs by ``repair_rank``.
    ``fill_from_prompt`` names a kwarg that defaults to the request text; ``needs_prompt`` types
    get the request as the ``prompt`` kwarg; ``pools`` are a soft type's parameter value pools.
    """

    id: str
    kind: Kind
    category: str
    templates: tuple[str, ...]
    sample: Callable[[random.Random], dict[str, Any]]
    args: Mapping[str, Arg] = field(default_factory=dict)
    verify: Callable[..., bool] | None = None
    graded: Callable[..., float] | None = None
    repair: Callable[..., str | None] | None = None
    repair_rank: int = RANK_CONTENT
    no_repair: str = ""  # why there is no repair, or when it returns None (docs/constraints.md)
    format_kwargs: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    description: str = ""
    ifeval: bool = False  # one of IFEval's 25 instruction ids (exact official semantics)
    fill_from_prompt: str | None = None
    needs_prompt: bool = False
    pools: Mapping[str, tuple[Any, ...]] | None = None
    # value-level check (ranges, allowed relations); raises ConstraintError
    validate: Callable[[dict[str, Any]], None] | None = None

    @property
    def params(self) -> frozenset[str]:
        """Every kwarg name the type accepts."""
        return frozenset(self.args)

    @property
    def required(self) -> frozenset[str]:
        """The kwarg names that must be given."""
        return frozenset(n for n, a in self.args.items() if a.required)

    @property
    def uses_prompt(self) -> bool:
        """Whether the verdict depends on the request text."""
        return bool(self.fill_from_prompt) or self.needs_prompt

    def check_kwargs(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Validated copy of ``kwargs``; raises :class:`ConstraintError` (fail closed).

        ``None`` values are dropped first, as IFEval's own evaluation does (the Hugging Face copy of
        its data fills every unused kwarg with null).
        """
        if not isinstance(kwargs, Mapping):
            raise ConstraintError(f"{self.id}: kwargs must be a mapping, got {type(kwargs).__name__}")
        kw = {k: v for k, v in kwargs.items() if v is not None}
        unknown = set(kw) - self.params
        if unknown:
            raise ConstraintError(f"{self.id}: unknown kwargs {sorted(unknown)}; accepted: {sorted(self.params)}")
        missing = self.required - set(kw)
        if missing:
            raise ConstraintError(f"{self.id}: missing required kwargs {sorted(missing)}")
        for name, value in kw.items():
            _check_type(self.id, name, value, self.args[name].type)
        if self.validate is not None:
            self.validate(kw)
        return kw

    def render(self, kwargs: Mapping[str, Any], rng: random.Random | None = None, template: int | None = None) -> str:
        """Natural-language text of an instance (template chosen by ``rng`` or index)."""
        if template is None:
            template = (rng or random.Random(0)).randrange(len(self.templates))
        values = self.format_kwargs(kwargs) if self.format_kwargs else dict(kwargs)
        return self.templates[template].format(**values)

    def instance(self, rng: random.Random, kwargs: Mapping[str, Any] | None = None) -> ConstraintInstance:
        """Sample kwargs (unless given) and render one instance."""
        kw = self.check_kwargs(kwargs if kwargs is not None else self.sample(rng))
        return ConstraintInstance(id=self.id, kind=self.kind, kwargs=kw, text=self.render(kw, rng))


def hard_type(
    id_: str,
    *,
    verify: Callable[..., bool],
    templates: tuple[str, ...],
    sample: Callable[[random.Random], dict[str, Any]],
    args: Mapping[str, Any] | None = None,
    validate: Callable[[dict[str, Any]], None] | None = None,
    graded: Callable[..., float] | None = None,
    repair: Callable[..., str | None] | None = None,
    repair_rank: int = RANK_CONTENT,
    no_repair: str = "",
    description: str = "",
    format_kwargs: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None,
    ifeval: bool = False,
    fill_from_prompt: str | None = None,
    needs_prompt: bool = False,
) -> ConstraintType:
    """A hard type. ``args`` maps each kwarg name to an :class:`Arg` or just a value type (then
    required); the category is the id's prefix and the description defaults to the verifier's
    first docstring line."""
    spec = {n: a if isinstance(a, Arg) else Arg(a) for n, a in (args or {}).items()}
    return ConstraintType(
        id=id_,
        kind="hard",
        category=id_.split(":", 1)[0],
        templates=templates,
        sample=sample,
        args=spec,
        verify=verify,
        graded=graded,
        repair=repair,
        repair_rank=repair_rank,
        no_repair=no_repair,
        format_kwargs=format_kwargs,
        description=description or (verify.__doc__ or "").strip().split("\n")[0],
        ifeval=ifeval,
        validate=validate,
        fill_from_prompt=fill_from_prompt,
        needs_prompt=needs_prompt,
    )
