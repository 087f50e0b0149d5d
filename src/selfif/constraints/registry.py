"""The constraint registry: every constraint type, keyed by id, and the verdict API all stages use.

Everything downstream (synthesis, pseudo-label audit, rewards, IFEval scoring) refers to
constraints by id and calls :func:`verify` / :func:`graded` here, so there is exactly one place
that decides whether a response follows a hard constraint. Lookups fail closed: an unknown id or
kwargs that do not fit the type's schema raise :class:`ConstraintError` — never a silent pass.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from selfif.constraints import text as _text
from selfif.constraints.base import ConstraintError, ConstraintInstance, ConstraintType, Kind

__all__ = [
    "ConstraintError",
    "ConstraintInstance",
    "ConstraintType",
    "all_types",
    "conflicts",
    "get",
    "graded",
    "register",
    "repair",
    "repair_chain",
    "repairable",
    "verify",
]

_REGISTRY: dict[str, ConstraintType] = {}
_LOADED = False


def register(ctype: ConstraintType, *, replace: bool = False) -> ConstraintType:
    """Add a type. Ids are unique; hard types need a verifier, soft types must not have one."""
    if not replace and ctype.id in _REGISTRY:
        raise ConstraintError(f"constraint type {ctype.id!r} is already registered")
    if (ctype.kind == "hard") != (ctype.verify is not None):
        raise ConstraintError(f"{ctype.id}: hard types need verify, soft types must not have one")
    if len(ctype.templates) < 1:
        raise ConstraintError(f"{ctype.id}: at least one template is required")
    _REGISTRY[ctype.id] = ctype
    _prompt_types.cache_clear()  # a new type may read the prompt
    return ctype


def _load() -> None:
    """Import the built-in type tables once (lazily, so importing this module stays cheap)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from selfif.constraints import extra_hard, ifeval, soft

    for table in (ifeval.TYPES, extra_hard.TYPES, soft.TYPES):
        for ctype in table:
            register(ctype)


def get(type_id: str) -> ConstraintType:
    """The type registered under ``type_id``; :class:`ConstraintError` if there is none."""
    _load()
    try:
        return _REGISTRY[type_id]
    except (KeyError, TypeError):
        raise ConstraintError(f"unknown constraint id {type_id!r}") from None


def all_types(kind: Kind | None = None) -> list[ConstraintType]:
    """All registered types (optionally only ``hard`` or ``soft``), sorted by id."""
    _load()
    if kind not in (None, "hard", "soft"):
        raise ConstraintError(f"kind must be 'hard', 'soft' or None, got {kind!r}")
    return sorted((t for t in _REGISTRY.values() if kind is None or t.kind == kind), key=lambda t: t.id)


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__,) + tuple(_freeze(v) for v in value)
    return (type(value).__name__, value)  # the type name keeps True and 1 apart


def _bind(type_id: str, kwargs: Mapping[str, Any], prompt: str | None) -> tuple[ConstraintType, dict[str, Any]]:
    ctype = get(type_id)
    if ctype.verify is None:
        raise ConstraintError(f"{type_id} is a soft constraint: it has no code verifier (use the reward model)")
    kw = ctype.check_kwargs(kwargs)
    fill = ctype.fill_from_prompt
    if fill and fill not in kw:
        if prompt is None:
            raise ConstraintError(f"{type_id}: needs kwarg {fill!r} or the prompt")
        kw[fill] = prompt
    if ctype.needs_prompt:
        if prompt is None:
            raise ConstraintError(f"{type_id}: needs the prompt to verify")
        kw["prompt"] = prompt
    return ctype, kw


_BOUND: dict[Any, tuple[ConstraintType, dict[str, Any]]] = {}


@functools.lru_cache(maxsize=1)
def _prompt_types() -> frozenset[str]:
    return frozenset(t.id for t in all_types() if t.uses_prompt)


def _bound(type_id: str, kwargs: Mapping[str, Any] | None, prompt: str | None) -> tuple[ConstraintType, dict[str, Any]]:
    """Type and validated kwargs, memoised on the (id, kwargs value, prompt if used) key.

    Scoring validates the same few kwargs once per (response, constraint, loose variant); the
    cached dict is never mutated by verifiers. Failures are not cached (they raise).
    """
    kwargs = {} if kwargs is None else kwargs
    try:
        key = (type_id, _freeze(kwargs), prompt if type_id in _prompt_types() else None)
        hash(key)
    except (TypeError, AttributeError):
        return _bind(type_id, kwargs, prompt)
    hit = _BOUND.get(key)
    if hit is None:
        if len(_BOUND) >= 8192:
            _BOUND.clear()
        hit = _BOUND[key] = _bind(type_id, kwargs, prompt)
    return hit


def verify(type_id: str, response: str, kwargs: Mapping[str, Any] | None = None, *, loose: bool = False, prompt: str | None = None) -> bool:
    """Does ``response`` follow the hard constraint?

    Strict: the response is non-blank and passes. Loose (IFEval's official relaxation): any
    non-blank variant passes among the response, it with its first / last / both lines removed,
    and each of those four with every ``*`` removed.
    """
    if not isinstance(response, str):
        raise ConstraintError(f"response must be a string, got {type(response).__name__}")
    ctype, kw = _bound(type_id, kwargs, prompt)
    check = ctype.verify
    if not loose:
        return bool(response.strip()) and bool(check(response, **kw))
    return any(check(v, **kw) for v in _text.loose_variants(response))


def graded(type_id: str, response: str, kwargs: Mapping[str, Any] | None = None, *, prompt: str | None = None) -> float | None:
    """Shaped score in [0, 1] for reward shaping, or ``None`` when the type defines none.

    A blank response scores 0.
    """
    ctype, kw = _bound(type_id, kwargs, prompt)
    if ctype.graded is None:
        return None
    if not response.strip():
        return 0.0
    accepted = _graded_params(ctype.graded)
    score = float(ctype.graded(response, **{k: v for k, v in kw.items() if k in accepted}))
    return min(1.0, max(0.0, score))


@functools.lru_cache(maxsize=None)
def _graded_params(fn) -> frozenset[str]:
    import inspect

    return frozenset(p.name for p in inspect.signature(fn).parameters.values() if p.kind is p.KEYWORD_ONLY)


def repairable(type_id: str) -> bool:
    """Whether the type has a repair (soft types never do; unknown ids raise)."""
    return get(type_id).repair is not None


def repair(type_id: str, response: str, kwargs: Mapping[str, Any] | None = None, prompt: str | None = None) -> str | None:
    """A minimally edited ``response`` that the strict verifier accepts, or ``None``.

    ``None`` when the type has no repair, the response is blank (nothing of the policy's to
    keep), the type's repair finds no honest edit, or its result still fails (the verifier has
    the last word). A response that already passes comes back unchanged, so a repair is
    idempotent.
    """
    if not isinstance(response, str):
        raise ConstraintError(f"response must be a string, got {type(response).__name__}")
    ctype, kw = _bound(type_id, kwargs, prompt)
    if not response.strip():
        return None
    if verify(type_id, response, kwargs, prompt=prompt):
        return response
    if ctype.repair is None:
        return None
    fixed = ctype.repair(response, **kw)
    if fixed is None or not verify(type_id, fixed, kwargs, prompt=prompt):
        return None
    return fixed


_CHAIN_PASSES = 3


def repair_chain(constraints: list[Mapping[str, Any] | ConstraintInstance], response: str, prompt: str | None = None) -> str | None:
    """Repair ``response`` for every hard constraint of a chain jointly, or ``None``.

    Repairs run in ``repair_rank`` order (content edits, layout, markup, edges, length budgets,
    request prefix, case, wrapping; ties keep the chain's order), for up to three passes, since a
    later edit can undo an earlier one (a prefixed request brings commas back). Length budgets
    keep the closing sentences earlier repairs appended (``keep_last``). The result is returned
    only if it passes every hard constraint strictly; soft constraints are the reward model's and
    are not checked here.
    """
    hard = []
    for c in constraints:
        inst = c if isinstance(c, ConstraintInstance) else ConstraintInstance(**{"kind": get(c["id"]).kind, **c})
        if get(inst.id).kind == "hard":
            hard.append(inst)
    hard.sort(key=lambda c: get(c.id).repair_rank)
    if not response.strip():
        return None
    original = frozenset(_text.sentences(response))
    out = response
    for _ in range(_CHAIN_PASSES):
        for c in hard:
            fixed = _repair_in_chain(c, out, prompt, original)
            if fixed is None:
                return None
            out = fixed
        if all(verify(c.id, out, c.kwargs, prompt=prompt) for c in hard):
            return out
    return None


def _repair_in_chain(c: ConstraintInstance, text: str, prompt: str | None, original: frozenset[str]) -> str | None:
    ctype, kw = _bound(c.id, c.kwargs, prompt)
    if verify(c.id, text, c.kwargs, prompt=prompt):
        return text  # what repair() would return, without verifying the same text again
    if ctype.repair is None or "keep_last" not in _param_names(ctype.repair):
        return repair(c.id, text, c.kwargs, prompt)
    added = 0  # closing sentences that are not the policy's own
    for s in reversed(_text.sentences(text)):
        if s in original:
            break
        added += 1
    fixed = ctype.repair(text, **kw, keep_last=added)
    return fixed if fixed is not None and verify(c.id, fixed, c.kwargs, prompt=prompt) else None


@functools.lru_cache(maxsize=None)
def _param_names(fn) -> frozenset[str]:
    import inspect

    return frozenset(inspect.signature(fn).parameters)


def conflicts(id_a: str, id_b: str) -> bool:
    """True when the two types cannot co-occur in one instruction (symmetric; a type conflicts
    with itself)."""
    get(id_a), get(id_b)
    from selfif.constraints.conflicts import conflicting

    return conflicting(id_a, id_b)
