"""One greedy completion per GRPO group (``train.greedy_member``) and the looping rule (``train.looping_fails``).

IFEval scores the policy's *greedy* answers, and greedy decoding is where a small policy loops:
after the 600-seed cpu-2h run, 29 of 64 IFEval answers ended in a repetition loop greedily at 512
tokens, 5 of 64 sampled at temperature 1.0, the temperature of GRPO's rollouts
(:mod:`selfif.repetition`). Sampled rollouts therefore rarely show the reward the failure that costs
the benchmark most. With ``greedy_member`` the first completion of every group is the policy's
greedy answer and the others are sampled as before; with ``looping_fails`` a completion that ends
in a loop scores 0 on every constraint, so a looping greedy answer gets a negative advantage against
its sampled siblings whenever one of them does better, which pushes down exactly the tokens that
continue the loop.

The greedy answer is not a sample of the policy at the rollout temperature (it is the mode of the
policy), so, like a guided completion, it is slightly off-policy; its log-probabilities are the
policy's own, computed by the trainer like any other completion's. The step logs ``greedy/looping``,
the share of greedy members that end in a loop: a learning curve for the behaviour the benchmark
sees, at no extra generation cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Sampling settings that greedy decoding drops (HF generate warns when they accompany do_sample=False).
_SAMPLING_KEYS = ("temperature", "top_p", "top_k", "min_p")


def greedy_kwargs(generation_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The trainer's generation kwargs for greedy decoding: everything else (cap, end tokens, minimum
    length, repetition penalty) is kept."""
    out = {k: v for k, v in generation_kwargs.items() if k not in _SAMPLING_KEYS}
    out["do_sample"] = False
    return out


def heads(n: int, num_generations: int) -> list[int]:
    """Indices of the greedy members among ``n`` rollouts whose groups are contiguous: each group's first."""
    if n % num_generations:
        raise ValueError(f"{n} rollouts do not split into groups of {num_generations}")
    return list(range(0, n, num_generations))


def interleave(n: int, head_idx: Sequence[int], head_out: Sequence[Any], rest_out: Sequence[Any]) -> list[Any]:
    """Put the greedy results at ``head_idx`` and the sampled ones, in order, everywhere else."""
    if len(head_idx) != len(head_out) or len(head_out) + len(rest_out) != n:
        raise ValueError(f"cannot place {len(head_out)} + {len(rest_out)} results into {n} slots")
    at = dict(zip(head_idx, head_out, strict=True))
    rest = iter(rest_out)
    return [at[i] if i in at else next(rest) for i in range(n)]


def looping_share(texts: Sequence[str], idx: Sequence[int]) -> float | None:
    """Share of ``texts[i]`` for ``i`` in ``idx`` that end in a repetition loop (``None`` if ``idx`` is empty)."""
    from selfif.repetition import ends_in_loop

    if not idx:
        return None
    return sum(ends_in_loop(texts[i]) for i in idx) / len(idx)


def fail_looping(totals: Sequence[float], results: Sequence[Any], texts: Sequence[str]) -> tuple[list[float], int]:
    """Zero every component (in ``results`` too) of the completions that end in a loop; returns the
    new totals and how many completions were zeroed."""
    from selfif.repetition import ends_in_loop

    out = list(totals)
    zeroed = 0
    for r, (res, text) in enumerate(zip(results, texts, strict=True)):
        if not ends_in_loop(text):
            continue
        res.components = [0.0] * len(res.components)
        out[r] = res.total = 0.0
        zeroed += 1
    return out, zeroed
