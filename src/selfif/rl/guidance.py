"""Guided GRPO: put a code-repaired completion into groups that carry no learning signal.

Why: when no completion of a group satisfies a hard constraint, every completion gets the same
score on it, the group's advantage on that constraint is zero, and GRPO cannot learn it
(lowercase, all capitals, repeat-the-prompt... stayed at ~0 % after training, docs/repairs.md). In a
self-supervised system the positive example has to come from the policy's own output plus code.

Trigger: a group in which no completion satisfies some *repairable* hard constraint. (A group
whose rewards are all equal and that still fails a constraint is the same case; one that fails
only unrepairable constraints cannot be helped, and one that passes everything needs no help.)

Action: up to ``k`` completions of the group (``train.guidance_per_group``) are replaced, each by
its own repair (``registry.repair_chain`` over the row's hard constraints; if the whole chain
cannot be repaired jointly, over the stuck constraints plus the ones the completion already
passes, so nothing it did right is undone). Sources are tried in the order "passes the most
hard constraints first" (the smallest edit). The repaired text is re-tokenized, EOS-terminated,
must fit ``max_completion_length`` without truncation (a cut repair would not verify), and must
pass the verifier on the text the tokenizer decodes back. TRL then scores it and computes its
log-probabilities under the current policy like any other completion.

Bounding the off-policy push. A repaired completion can contain tokens the policy would almost
never sample (a lower-cased paragraph). GRPO's ratio is 1 for it (old log-probs = current ones,
one update per generation), so its gradient is ``A * grad log p`` per token: bounded per token
(the log-softmax gradient), but a lone success in a group of failures gets the largest
advantage of the group (1.5 in a group of 4, 2.5 in a group of 8 with group scaling) on every
one of its tokens. Early probes of guidance saw entropy rise 3.0 -> 3.8 under such pushes. We clip
the guided completions' advantage to ``train.guidance_max_advantage`` (default 1.0: the push of an
ordinary better-than-average sample); the failing on-policy completions keep their (negative)
advantage. ``guidance_decay_steps`` lets the guided share fall linearly to zero, so late training
is on-policy again. Entropy (TRL's ``entropy``) and, with ``beta > 0``, ``kl`` are plotted next to
the guided share to watch the effect.

Honest learning curve: ``onpolicy_pass/<type>``, ``onpolicy_pass/all`` (constraint-level) and
``onpolicy_pass/prompt`` (all hard constraints of a row) are computed on the sampled completions
*before* any replacement, so guided samples never count; they are logged with guidance off too,
so runs with and without guidance compare on the same curve.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from selfif.constraints import registry

Encode = Callable[[str], "tuple[list[int], str] | None"]


@dataclass(frozen=True)
class Guided:
    """One replaced completion: its index in the group, the repaired text and its token ids."""

    index: int
    text: str
    ids: list[int]
    stuck: tuple[str, ...]  # the constraint ids no completion of the group satisfied
    original: str = ""  # the sampled completion it was repaired from


def hard_constraints(constraints: str | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The hard constraint records of a dataset row (its ``constraints`` column: JSON or a list)."""
    cons = json.loads(constraints) if isinstance(constraints, str) else constraints
    out = []
    for c in cons:
        if c["kind"] == "hard":
            kwargs = {k: v for k, v in (c.get("kwargs") or {}).items() if v is not None}  # Arrow fills absent kwargs with None
            out.append({"id": c["id"], "kind": "hard", "kwargs": kwargs, "text": c.get("text", "")})
    return out


def verdicts(hard: Sequence[Mapping[str, Any]], text: str, prompt: str | None) -> list[bool]:
    """Strict verifier verdict of ``text`` on each hard constraint."""
    return [registry.verify(c["id"], text, c["kwargs"], prompt=prompt) for c in hard]


def stuck(hard: Sequence[Mapping[str, Any]], group_verdicts: Sequence[Sequence[bool]]) -> list[int]:
    """Indices of the repairable hard constraints that no completion of the group satisfies."""
    return [j for j, c in enumerate(hard) if not any(v[j] for v in group_verdicts) and registry.repairable(c["id"])]


def _repair(hard: Sequence[Mapping[str, Any]], text: str, prompt: str | None, passed: Sequence[bool], stuck_idx: Sequence[int]) -> str | None:
    """The whole chain repaired jointly; else the stuck constraints plus those ``text`` already passes."""
    out = registry.repair_chain(list(hard), text, prompt)
    if out is not None:
        return out
    subset = [c for j, c in enumerate(hard) if passed[j] or j in stuck_idx]
    if len(subset) < len(hard):
        return registry.repair_chain(subset, text, prompt)
    return None


def plan_group(
    hard: Sequence[Mapping[str, Any]],
    texts: Sequence[str],
    prompt: str | None,
    k: int,
    encode: Encode,
    group_verdicts: Sequence[Sequence[bool]] | None = None,
) -> list[Guided]:
    """Which completions of one group to replace, and by what (empty when the trigger does not fire).

    ``encode(text)`` returns the completion token ids (EOS-terminated) and the text they decode
    back to, or ``None`` when the text does not fit the completion length.
    """
    if k <= 0 or not hard:
        return []
    vs = group_verdicts if group_verdicts is not None else [verdicts(hard, t, prompt) for t in texts]
    stuck_idx = stuck(hard, vs)
    if not stuck_idx:
        return []
    order = sorted(range(len(texts)), key=lambda i: (-sum(vs[i]), -i))
    out: list[Guided] = []
    for i in order:
        if len(out) >= k:
            break
        repaired = _repair(hard, texts[i], prompt, vs[i], stuck_idx)
        enc = encode(repaired) if repaired is not None else None
        if enc is None:
            continue
        ids, decoded = enc
        after = verdicts(hard, decoded, prompt)
        if all(after[j] for j in stuck_idx) and all(a or not b for a, b in zip(after, vs[i])):
            out.append(Guided(i, decoded, ids, tuple(hard[j]["id"] for j in stuck_idx), texts[i]))
    return out


@dataclass(frozen=True)
class Rollout:
    """One sampled completion of a generation batch, in TRL's global order (groups contiguous)."""

    constraints: str | Sequence[Mapping[str, Any]]
    prompt: str | None
    text: str
    truncated: bool = False


def plan_batch(
    rollouts: Sequence[Rollout],
    num_generations: int,
    *,
    k: int,
    factor: float,
    rng: random.Random,
    encode: Encode,
    enabled: bool = True,
) -> tuple[dict[int, Guided], dict[str, float]]:
    """Guided replacements (keyed by global index) and the step's metrics for a generation batch.

    The metrics are the on-policy pass rates (:func:`onpolicy_metrics`, over the completions as
    sampled) and, when ``enabled``, ``guidance/share`` (replaced / all completions),
    ``guidance/triggered`` (groups with a stuck repairable constraint / groups) and
    ``guidance/repaired`` (groups that got a replacement / groups). Truncated completions are
    never repair sources: a repaired cut-off answer would teach stopping mid-sentence.
    """
    guided: dict[int, Guided] = {}
    rows = []
    triggered = repaired = 0
    n_groups = len(rollouts) // num_generations
    for g in range(n_groups):
        group = rollouts[g * num_generations : (g + 1) * num_generations]
        hard = hard_constraints(group[0].constraints)
        prompt = group[0].prompt
        vs = [verdicts(hard, r.text, prompt) for r in group]
        rows += [(hard, v) for v in vs]
        if not enabled or not hard:
            continue
        if stuck(hard, vs):
            triggered += 1
        budget = per_group_budget(k, factor, rng)
        eligible = [i for i, r in enumerate(group) if not r.truncated]
        picks = plan_group(hard, [group[i].text for i in eligible], prompt, budget, encode, [vs[i] for i in eligible])
        for p in picks:
            i = eligible[p.index]
            guided[g * num_generations + i] = Guided(i, p.text, p.ids, p.stuck, p.original)
        repaired += bool(picks)
    metrics = onpolicy_metrics(rows)
    if enabled and rollouts:
        metrics["guidance/share"] = len(guided) / len(rollouts)
        metrics["guidance/triggered"] = triggered / max(1, n_groups)
        metrics["guidance/repaired"] = repaired / max(1, n_groups)
    return guided, metrics


def share_factor(step: int, decay_steps: int | None) -> float:
    """Multiplier of the guided share at optimizer step ``step``: 1 without decay, else linear to 0."""
    if decay_steps is None:
        return 1.0
    return max(0.0, 1.0 - step / decay_steps)


def per_group_budget(k: int, factor: float, rng: random.Random) -> int:
    """How many completions a triggered group may have replaced: ``k * factor``, the fraction drawn
    at random (so ``k = 1`` decays as a probability, not as a cliff)."""
    x = k * factor
    n = int(x)
    return n + (rng.random() < x - n)


def onpolicy_metrics(rows: Sequence[tuple[Sequence[Mapping[str, Any]], Sequence[bool]]]) -> dict[str, float]:
    """Pass rates of on-policy samples: per type, over all (sample, hard constraint) pairs, per prompt.

    ``rows``: one ``(hard constraints, verdicts)`` pair per sampled completion.
    """
    per: dict[str, list[int]] = {}
    n_all = passed_all = n_rows = rows_ok = 0
    for hard, vs in rows:
        if not hard:
            continue
        n_rows += 1
        rows_ok += all(vs)
        for c, v in zip(hard, vs, strict=True):
            acc = per.setdefault(c["id"], [0, 0])
            acc[0] += v
            acc[1] += 1
            passed_all += v
            n_all += 1
    out = {f"onpolicy_pass/{cid}": p / n for cid, (p, n) in sorted(per.items())}
    if n_all:
        out["onpolicy_pass/all"] = passed_all / n_all
        out["onpolicy_pass/prompt"] = rows_ok / n_rows
    return out
