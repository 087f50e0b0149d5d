"""Which constraints a truncated completion cannot be judged on, and the reward rule for them.

A rollout that hits ``max_completion_length`` is a prefix of an unfinished answer. For most
constraints the prefix is a fair sample (no comma so far, lowercase so far, a title at the top),
but for some the verdict depends on how the answer *ends* or on a total the prefix cannot know:

- the tail: ``startend:end_checker``, ``words:end_keyword``, ``startend:quotation`` (closing
  quote), ``combination:two_responses`` (the second part and no third), ``detectable_format:json_format``
  (the closing brace);
- exact totals: ``length_constraints:number_paragraphs``, ``..:nth_paragraph_first_word``,
  ``detectable_format:number_bullet_lists``, ``count:exact_sentences``;
- upper bounds (``relation``-style kwarg ``"less than"``): a prefix passes them vacuously.

With ``train.truncated_fails_end_constraints`` the reward scores these constraints 0 on a
truncated completion, so the policy is never paid for a verdict it only earned by being cut
off, and it is paid for finishing within the cap. "At least" totals are left alone: a prefix
can only under-count them, which already scores 0 when the count is not reached; so are
presence checks (``detectable_content:postscript`` finds a "P.S." line anywhere: one in the
prefix is a real pass, one the cap cut off is a real miss).

Measured (``experiments/completion_cap.py``, 16 cpu-2h curriculum prompts x 2 samples, T 1.0,
base SmolLM2-135M): 59 % of rollouts stop at a 128-token cap and 47 % at 256, so doubling the cap
(and the generation time of the long rollouts) saves few of them: most of the capped ones ramble
past 256 too. End-dependent judgements made on truncated text: 10 of 16 at 128, 8 of 16 at 256.
We keep the cap and zero end-dependent verdicts on truncated text instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TAIL = frozenset({
    "startend:end_checker", "words:end_keyword", "startend:quotation", "combination:two_responses",
    "detectable_format:json_format",
})  # fmt: skip
EXACT_TOTAL = frozenset({
    "length_constraints:number_paragraphs", "length_constraints:nth_paragraph_first_word",
    "detectable_format:number_bullet_lists", "count:exact_sentences",
})  # fmt: skip
RELATION_KWARGS = ("relation", "let_relation", "capital_relation")


def end_dependent(constraint_id: str, kwargs: Mapping[str, Any] | None = None) -> bool:
    """True when a truncated response cannot be judged on this constraint (see the module doc)."""
    if constraint_id in TAIL or constraint_id in EXACT_TOTAL:
        return True
    kwargs = kwargs or {}
    return any(kwargs.get(k) == "less than" for k in RELATION_KWARGS)
