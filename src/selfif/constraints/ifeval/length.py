"""IFEval's ``length_constraints:*`` types: sentence, paragraph and word counts, and the first word
of the nth paragraph. Each type's sampler, verifier, graded score, repair and table entry stand
together."""

from __future__ import annotations

import re
from typing import Any

from selfif.constraints import edits as E
from selfif.constraints import text as T
from selfif.constraints.base import RANK_BUDGET, RANK_LAYOUT, ConstraintError, compare
from selfif.constraints.ifeval.common import KEYWORDS, _all, _non_negative, _rel, _relation, _t


NO_REPAIR_LENGTH = "reaching a minimum length needs new content (padding teaches degenerate text)"


# ---------------------------------------------------------------- length_constraints:number_sentences

def v_number_sentences(response: str, *, num_sentences: int, relation: str) -> bool:
    return compare(T.count_sentences(response), relation, num_sentences)


def r_number_sentences(response: str, *, num_sentences: int, relation: str, keep_last: int = 0) -> str | None:
    """"less than": keep the first N-1 sentences. "at least": None (needs new sentences).

    ``keep_last`` (set by :func:`registry.repair_chain`): also keep that many closing sentences
    that earlier repairs appended, dropping body sentences before them instead."""
    if relation != "less than" or num_sentences < 2:
        return None
    return E.first_sentences(response, num_sentences - 1, keep_last=keep_last)


NUMBER_SENTENCES = _t("length_constraints:number_sentences", verify=v_number_sentences, templates=(
    "Your response should contain {relation} {num_sentences} sentences.",
    "Answer with {relation} {num_sentences} sentences.",
    "Use {relation} {num_sentences} sentences in your reply.",
), sample=lambda rng: {"num_sentences": rng.randint(1, 20), "relation": _rel(rng)},
    args={"num_sentences": int, "relation": str}, validate=_all(_relation("relation"), _non_negative("num_sentences")),
    repair=r_number_sentences, repair_rank=RANK_BUDGET, no_repair=NO_REPAIR_LENGTH + ' ("at least" only)',
    description="Punkt sentence count vs threshold.")


# ---------------------------------------------------------------- length_constraints:number_paragraphs

_PARAGRAPH_DIVIDER = re.compile(r"\s?\*\*\*\s?")


def v_number_paragraphs(response: str, *, num_paragraphs: int) -> bool:
    parts = _PARAGRAPH_DIVIDER.split(response)
    n = len(parts)
    for i, p in enumerate(parts):
        if not p.strip():
            if i == 0 or i == len(parts) - 1:
                n -= 1
            else:
                return False
    return n == num_paragraphs


_STARS3 = re.compile(r"\*{3,}")


def r_number_paragraphs(response: str, *, num_paragraphs: int) -> str | None:
    """Regroup the paragraphs (or, when too few, the sentences) into N, separated by ***."""
    groups = E.regroup(_STARS3.sub("", response), num_paragraphs)
    return "\n\n***\n\n".join(groups) if groups else None


NUMBER_PARAGRAPHS = _t("length_constraints:number_paragraphs", verify=v_number_paragraphs, templates=(
    "There should be {num_paragraphs} paragraphs. Paragraphs are separated with the markdown divider: ***",
    "Write exactly {num_paragraphs} paragraphs and put the markdown divider *** between them.",
    "Your answer must have {num_paragraphs} paragraphs, separated from each other by ***.",
), sample=lambda rng: {"num_paragraphs": rng.randint(2, 6)}, args={"num_paragraphs": int},
    validate=_non_negative("num_paragraphs"), repair=r_number_paragraphs, repair_rank=RANK_LAYOUT,
    description="Exactly N ***-separated paragraphs.")


# ---------------------------------------------------------------- length_constraints:number_words

def v_number_words(response: str, *, num_words: int, relation: str) -> bool:
    return compare(T.count_words(response), relation, num_words)


def g_number_words(response: str, *, num_words: int, relation: str) -> float:
    """1 when the word-count rule holds, decaying linearly with the relative distance to it."""
    n = T.count_words(response)
    if compare(n, relation, num_words):
        return 1.0
    if relation == "at least":
        return n / num_words if num_words > 0 else 1.0
    return max(0.0, 1.0 - (n - num_words + 1) / max(num_words, 1))


def r_number_words(response: str, *, num_words: int, relation: str, keep_last: int = 0) -> str | None:
    """"less than": keep the leading sentences that fit (and ``keep_last`` closing ones, as in
    :func:`r_number_sentences`). "at least": None (padding)."""
    if relation != "less than":
        return None
    return E.first_sentences(response, None, fits=lambda t: T.count_words(t) < num_words, keep_last=keep_last)


NUMBER_WORDS = _t("length_constraints:number_words", verify=v_number_words, templates=(
    "Answer with {relation} {num_words} words.",
    "Your response should be {relation} {num_words} words long.",
    "Write {relation} {num_words} words.",
), sample=lambda rng: {"num_words": rng.choice(range(50, 401, 10)), "relation": _rel(rng)},
    args={"num_words": int, "relation": str}, validate=_all(_relation("relation"), _non_negative("num_words")),
    graded=g_number_words, repair=r_number_words, repair_rank=RANK_BUDGET, no_repair=NO_REPAIR_LENGTH + ' ("at least" only)',
    description="Word count vs threshold.")


# ---------------------------------------------------------------- length_constraints:nth_paragraph_first_word

def _s_paragraphs_nth(rng):
    n = rng.randint(2, 5)
    return {"num_paragraphs": n, "nth_paragraph": rng.randint(1, n), "first_word": rng.choice(KEYWORDS)}


def _nth_ok(kw: dict[str, Any]) -> None:
    n, k = kw.get("num_paragraphs"), kw.get("nth_paragraph")
    if n is not None and n < 0:
        raise ConstraintError(f"kwarg 'num_paragraphs' must be >= 0, got {n}")
    if k is not None and n is not None and not 1 <= k <= n:
        raise ConstraintError(f"kwarg 'nth_paragraph' must be in 1..num_paragraphs ({n}), got {k}")


_FIRST_WORD_STOP = frozenset(".,?!'\"")


def v_nth_paragraph_first_word(response: str, *, num_paragraphs: int, nth_paragraph: int, first_word: str) -> bool:
    paragraphs = response.split("\n\n")
    n = sum(1 for p in paragraphs if p.strip())
    if nth_paragraph > n:
        return False
    para = paragraphs[nth_paragraph - 1].strip()  # indexes the raw split, as the official code does
    if not para:
        return False
    word = para.split()[0].strip().lstrip("'").lstrip('"')
    got = []
    for ch in word:
        if ch in _FIRST_WORD_STOP:
            break
        got.append(ch.lower())
    return n == num_paragraphs and "".join(got) == first_word.lower()


def r_nth_paragraph_first_word(response: str, *, num_paragraphs: int, nth_paragraph: int, first_word: str) -> str | None:
    """Regroup into N blank-line paragraphs; the nth opens with "<Word>, " unless it already
    starts with the word."""
    groups = E.regroup(response, num_paragraphs)
    if not groups:
        return None
    para = groups[nth_paragraph - 1]
    if not v_nth_paragraph_first_word(para, num_paragraphs=1, nth_paragraph=1, first_word=first_word):
        groups[nth_paragraph - 1] = E.lead_with(para, first_word)
    return "\n\n".join(groups)


NTH_PARAGRAPH_FIRST_WORD = _t("length_constraints:nth_paragraph_first_word", verify=v_nth_paragraph_first_word, templates=(
    "There should be {num_paragraphs} paragraphs, separated from each other by two new lines. "
    'The {nth_paragraph_ord} paragraph must start with the word "{first_word}".',
    "Write {num_paragraphs} paragraphs separated by blank lines; "
    'begin paragraph {nth_paragraph} with the word "{first_word}".',
    "Use exactly {num_paragraphs} paragraphs (split by an empty line), and the "
    '{nth_paragraph_ord} one has to open with "{first_word}".',
), sample=_s_paragraphs_nth, args={"num_paragraphs": int, "nth_paragraph": int, "first_word": str},
    validate=_nth_ok, repair=r_nth_paragraph_first_word, repair_rank=RANK_LAYOUT,
    description="Paragraph count and first word of the nth.")


TYPES = (NUMBER_SENTENCES, NUMBER_PARAGRAPHS, NUMBER_WORDS, NTH_PARAGRAPH_FIRST_WORD)
