"""IFEval's ``keywords:*`` types: keywords that must occur, a keyword's frequency, forbidden
words, a letter's frequency. Each type's sampler, verifier, repair and table entry stand together."""

from __future__ import annotations

import re
from typing import Any

from selfif.constraints import edits as E
from selfif.constraints.base import ConstraintError, compare
from selfif.constraints.ifeval.common import KEYWORDS, _all, _compiled, _non_negative, _regex, _rel, _relation, _t


# ---------------------------------------------------------------- keywords:existence

def _s_keywords(rng):
    return {"keywords": rng.sample(KEYWORDS, rng.randint(1, 3))}


def v_keywords_existence(response: str, *, keywords) -> bool:
    return all(_compiled(k, re.IGNORECASE).search(response) for k in keywords)


_REGEX_META = frozenset(".^$*+?{}[]\\|()")


def is_literal(pattern: str) -> bool:
    """A keyword kwarg without regex metacharacters (it then matches as the text itself)."""
    return not any(c in _REGEX_META for c in pattern)


def r_keywords_existence(response: str, *, keywords) -> str | None:
    """Missing keywords go into one closing sentence. None for a regex (not literal) keyword."""
    missing = [k.strip() for k in keywords if not _compiled(k, re.IGNORECASE).search(response)]
    if not all(is_literal(k) for k in missing):
        return None
    return E.append_sentence(response, f"This also touches on {' and '.join(missing)}.")


EXISTENCE = _t("keywords:existence", verify=v_keywords_existence, templates=(
    "Include the keywords {keywords} in your response.",
    "Make sure your answer mentions {keywords}.",
    "Your reply must contain the words {keywords}.",
), sample=_s_keywords, args={"keywords": list}, validate=_regex("keywords"),
    repair=r_keywords_existence, description="Every keyword occurs (case-insensitive).")


# ---------------------------------------------------------------- keywords:frequency

def _s_frequency(rng):
    return {"keyword": rng.choice(KEYWORDS), "frequency": rng.randint(1, 5), "relation": _rel(rng)}


def v_keywords_frequency(response: str, *, keyword: str, frequency: int, relation: str) -> bool:
    n = len(_compiled(keyword.strip(), re.IGNORECASE).findall(response))
    return compare(n, relation, frequency)


_FREQ_SENTENCES = ("This also relates to {k}.", "The idea of {k} matters here too.", "Keep {k} in mind.")


def r_keywords_frequency(response: str, *, keyword: str, frequency: int, relation: str) -> str | None:
    """"less than": drop the last sentences that use the keyword. "at least": up to three short
    sentences that use it once each; a larger shortfall would need padding (None)."""
    pat = _compiled(keyword.strip(), re.IGNORECASE)
    n = len(pat.findall(response))
    if relation == "less than":
        if frequency < 1:
            return None
        return E.drop_sentences(response, lambda s: pat.search(s) is not None, keep=frequency - 1)
    missing = frequency - n
    if not is_literal(keyword) or missing > len(_FREQ_SENTENCES):
        return None
    extra = " ".join(t.format(k=keyword.strip()) for t in _FREQ_SENTENCES[:missing])
    return E.append_sentence(response, extra)


FREQUENCY = _t("keywords:frequency", verify=v_keywords_frequency, templates=(
    'In your response, the word "{keyword}" should appear {relation} {frequency} times.',
    'Use the word "{keyword}" {relation} {frequency} times in your answer.',
    'The word "{keyword}" must occur {relation} {frequency} times in what you write.',
), sample=_s_frequency, args={"keyword": str, "frequency": int, "relation": str},
    validate=_all(_relation("relation"), _non_negative("frequency"), _regex("keyword")),
    repair=r_keywords_frequency, description="Keyword count vs threshold.")


# ---------------------------------------------------------------- keywords:forbidden_words

def _s_forbidden(rng):
    return {"forbidden_words": rng.sample(KEYWORDS, rng.randint(1, 3))}


def v_forbidden_words(response: str, *, forbidden_words) -> bool:
    return not any(_compiled(r"\b" + w + r"\b", re.IGNORECASE).search(response) for w in forbidden_words)


def r_forbidden_words(response: str, *, forbidden_words) -> str | None:
    """Drop the sentences that use a forbidden word (deleting the word alone breaks grammar)."""
    pats = [_compiled(r"\b" + w + r"\b", re.IGNORECASE) for w in forbidden_words]
    return E.drop_sentences(response, lambda s: any(p.search(s) for p in pats))


FORBIDDEN_WORDS = _t("keywords:forbidden_words", verify=v_forbidden_words, templates=(
    "Do not include the words {forbidden_words} in your response.",
    "Avoid the words {forbidden_words} entirely.",
    "Your answer must not contain any of these words: {forbidden_words}.",
), sample=_s_forbidden, args={"forbidden_words": list}, validate=_regex("forbidden_words"),
    repair=r_forbidden_words, description="No forbidden word as a whole word.")


# ---------------------------------------------------------------- keywords:letter_frequency

def _s_letter(rng):
    return {"letter": rng.choice("abcdefghijklmnopqrstuvwxyz"), "let_frequency": rng.randint(1, 12), "let_relation": _rel(rng)}


def v_letter_frequency(response: str, *, letter: str, let_frequency: int, let_relation: str) -> bool:
    """Count of ``letter`` (case-insensitive). Non-letter characters are counted as named
    (the official checker picks a random letter instead — see the package docstring)."""
    n = response.lower().count(letter.lower())
    return compare(n, let_relation, let_frequency)


def _single_char(kw: dict[str, Any]) -> None:
    if "letter" in kw and len(kw["letter"]) != 1:
        raise ConstraintError(f"kwarg 'letter' must be a single character, got {kw['letter']!r}")


NO_REPAIR_LETTERS = "changing a letter's count means rewording with other words"


LETTER_FREQUENCY = _t("keywords:letter_frequency", verify=v_letter_frequency, templates=(
    'In your response, the letter "{letter}" should appear {let_relation} {let_frequency} times.',
    'Make sure the letter "{letter}" is used {let_relation} {let_frequency} times.',
    'Write your answer so that the letter "{letter}" occurs {let_relation} {let_frequency} times.',
), sample=_s_letter, args={"letter": str, "let_frequency": int, "let_relation": str},
    validate=_all(_relation("let_relation"), _non_negative("let_frequency"), _single_char),
    no_repair=NO_REPAIR_LETTERS, description="Letter count vs threshold.")


TYPES = (EXISTENCE, FREQUENCY, FORBIDDEN_WORDS, LETTER_FREQUENCY)
