"""Answers that end in a repetition loop: reported beside the IFEval scores, watched in GRPO.

Why: decoded greedily, a small policy often falls into a loop (the same sentence, list item or
phrase again and again) and runs to the token cap. Such an answer never ends, so instructions about
its end (a closing quote, an end phrase, a postscript) fail and counts overshoot, whatever the
policy learned about them. On full IFEval (541 prompts, greedy, 512 tokens), by the definition
below, the packaged SmolLM2-135M ends 303 answers this way; the 150-seed cpu-2h policy
(``runs/cpu-2h-v2``) 155; the 600-seed one (``runs/cpu-2h-s600``) 254, which pass 27 % of their
prompts strictly against 35 % for its other answers (for the base model both rates are 19 %).
Sampled at temperature 1.0, as GRPO's rollouts are, the 600-seed policy seldom loops: 3 of 64
IFEval prompts at 128 tokens and 5 at 512, against 27 and 29 of 64 greedily. So the reward rarely
sees what the benchmark's decoding does.
Hence a share reported beside the scores, and its before/after delta beside theirs.

Definition, on the text alone so that it applies to any responses file: split the answer into
word and punctuation tokens (lower-cased, every digit read as 0, so that a counted loop such as
"21. Bring a …", "22. Bring a …" still repeats); the answer ends in a loop when it has at least
4 x :data:`N` tokens and at least :data:`MIN_REPEATED` of the :data:`N`-token sequences in its
second half already occurred earlier in it. On the evaluations above this share is bimodal: most
answers are near 0 or near 1. A long, genuinely repetitive answer (a table of near-identical rows)
can count too; it is a diagnostic, not a verdict.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

N = 6
MIN_REPEATED = 0.8
_TOKEN = re.compile(r"\w+|[^\w\s]")
_DIGIT = re.compile(r"\d")


def repeated_share(text: str) -> float:
    """Share of the ``N``-token sequences in the second half of ``text`` that occurred earlier in it
    (0.0 for an answer shorter than 4 x ``N`` tokens)."""
    tokens = _TOKEN.findall(_DIGIT.sub("0", text.lower()))
    if len(tokens) < 4 * N:
        return 0.0
    grams = [tuple(tokens[i:i + N]) for i in range(len(tokens) - N + 1)]
    half = len(grams) // 2
    seen = set(grams[:half])
    repeated = 0
    for g in grams[half:]:
        repeated += g in seen
        seen.add(g)
    return repeated / (len(grams) - half)


def ends_in_loop(text: str) -> bool:
    """True when ``text`` ends in a repetition loop (see the module docstring for the definition)."""
    return repeated_share(text) >= MIN_REPEATED


def loop_summary(responses: Sequence[str], prompt_passed: Sequence[bool]) -> dict[str, Any]:
    """``scores.json["looping"]``: how many answers end in a loop, and the strict prompt-level pass
    rate among them and among the others (``None`` for an empty group)."""
    flags = [ends_in_loop(r) for r in responses]
    n, k = len(flags), sum(flags)

    def rate(group: bool) -> float | None:
        xs = [p for f, p in zip(flags, prompt_passed, strict=True) if f == group]
        return sum(xs) / len(xs) if xs else None

    return {"answers": n, "looping": k, "share": k / n if n else 0.0,
            "prompt_strict_looping": rate(True), "prompt_strict_other": rate(False),
            "definition": f">= {MIN_REPEATED:.0%} of the second half's {N}-token sequences occurred earlier in the answer"}
