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
class ConstraintType:
    """A registry entry. ``verify`` is ``None`` for soft types.

    ``params`` is the set of kwarg names the type accepts and ``required`` the subset it needs;
    ``sample(rng)`` draws kwargs; ``templates`` are ``str.format`` strings over those kwargs
    (formatted via :meth:`render`, which may preprocess values with ``format_kwargs``).
    ``graded`` optionally maps (response, kwargs) to a score in [0, 1] for reward shaping.
    """

    id: str
    kind: Kind
    category: str
    templates: tuple[str, ...]
    sample: Callable[[random.Random], dict[str, Any]]
    params: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()
    verify: Callable[..., bool] | None = None
    graded: Callable[..., float] | None = None
    format_kwargs: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    description: str = ""
    ifeval: bool = False  # one of IFEval's 25 instruction ids (exact official semantics)
    extra: dict[str, Any] = field(default_factory=dict)
    # kwarg name -> int | str | list (list = non-empty list of non-empty strings); checked by check_kwargs
    kwarg_types: Mapping[str, Any] = field(default_factory=dict)
    # value-level check (ranges, allowed relations); raises ConstraintError
    validate: Callable[[dict[str, Any]], None] | None = None

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
            _check_type(self.id, name, value, self.kwarg_types.get(name))
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
    verify: Callable[..., bool],
    templates: tuple[str, ...],
    sample: Callable[[random.Random], dict[str, Any]],
    types: Mapping[str, Any] | None = None,
    validate: Callable[[dict[str, Any]], None] | None = None,
    graded: Callable[..., float] | None = None,
    *,
    required: frozenset[str] | None = None,
    description: str = "",
    extra: dict[str, Any] | None = None,
    format_kwargs: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None,
    ifeval: bool = False,
) -> ConstraintType:
    """A hard type whose kwargs are exactly ``types`` (all required unless ``required`` says otherwise);
    category is the id's prefix and the description defaults to the verifier's first docstring line."""
    types = dict(types or {})
    return ConstraintType(
        id=id_,
        kind="hard",
        category=id_.split(":", 1)[0],
        templates=templates,
        sample=sample,
        params=frozenset(types),
        required=frozenset(types) if required is None else required,
        verify=verify,
        graded=graded,
        format_kwargs=format_kwargs,
        description=description or (verify.__doc__ or "").strip().split("\n")[0],
        ifeval=ifeval,
        kwarg_types=types,
        validate=validate,
        extra=extra or {},
    )
