"""IFEval's ``change_case:*`` types: the number of all-caps words, all uppercase, all lowercase.
Each type's sampler, verifier, graded score, repair and table entry stand together."""

from __future__ import annotations

from selfif.constraints import edits as E
from selfif.constraints import text as T
from selfif.constraints.base import RANK_CASE, compare
from selfif.constraints.ifeval.common import _NO_KW, _rel, _relation, _t


# ---------------------------------------------------------------- change_case:capital_word_frequency

def count_capital_words(response: str) -> int:
    return T.count_upper_tokens(response)


def v_capital_word_frequency(response: str, *, capital_frequency: int, capital_relation: str) -> bool:
    return compare(count_capital_words(response), capital_relation, capital_frequency)


def r_capital_word_frequency(response: str, *, capital_frequency: int, capital_relation: str) -> str | None:
    """"at least": upper-case the longest lower-case words (emphasis) until enough; "less than":
    turn all-caps words of two or more letters into capitalised ones. None when too few words
    qualify (e.g. "I" and "A" alone reach the limit)."""
    out = response
    for _ in range(3):  # NLTK's tokens can differ from the words edited; recount and go on
        n = count_capital_words(out)
        if v_capital_word_frequency(out, capital_frequency=capital_frequency, capital_relation=capital_relation):
            return out
        if capital_relation == "less than":
            out = E.recase_words(out, n - capital_frequency + 1, lambda w: len(w) > 1 and w.isupper(), str.capitalize)
        else:
            out = E.recase_words(out, capital_frequency - n, lambda w: len(w) > 3 and not w.isupper(), str.upper, longest=True)
        if out is None:
            return None
    return out


CAPITAL_WORD_FREQUENCY = _t("change_case:capital_word_frequency", verify=v_capital_word_frequency, templates=(
    "In your response, words with all capital letters should appear {capital_relation} {capital_frequency} times.",
    "Use {capital_relation} {capital_frequency} words written entirely in CAPITAL letters.",
    "Write {capital_relation} {capital_frequency} ALL-CAPS words in your answer.",
), sample=lambda rng: {"capital_frequency": rng.randint(1, 20), "capital_relation": _rel(rng)},
    args={"capital_frequency": int, "capital_relation": str}, validate=_relation("capital_relation"),
    repair=r_capital_word_frequency, repair_rank=RANK_CASE, description="All-caps word count vs threshold.")


# ---------------------------------------------------------------- shared by the two whole-text cases

def _letter_fraction(response: str, upper: bool) -> float:
    cased = [c for c in response if c.isupper() or c.islower()]
    if not cased:
        return 0.0
    return sum(1 for c in cased if c.isupper() == upper) / len(cased)


# ---------------------------------------------------------------- change_case:english_capital

def v_english_capital(response: str) -> bool:
    if not response.isupper():
        return False
    lang = T.detect_language(response)
    return lang == T.UNDETECTABLE or lang == "en"


def g_english_capital(response: str) -> float:
    """Fraction of cased letters that are uppercase."""
    return _letter_fraction(response, upper=True)


def r_english_capital(response: str) -> str | None:
    """Upper-case it (None through the verifier when the text is not English)."""
    return response.upper()


ENGLISH_CAPITAL = _t("change_case:english_capital", verify=v_english_capital, templates=(
    "Your entire response should be in English, and in all capital letters.",
    "Reply in English using only CAPITAL LETTERS.",
    "WRITE YOUR WHOLE ANSWER IN ENGLISH AND IN UPPERCASE.",
), sample=_NO_KW, graded=g_english_capital, repair=r_english_capital, repair_rank=RANK_CASE,
    no_repair="non-English text would need a translation", description="All uppercase and English.")


# ---------------------------------------------------------------- change_case:english_lowercase

def v_english_lowercase(response: str) -> bool:
    if not response.islower():
        return False
    lang = T.detect_language(response)
    return lang == T.UNDETECTABLE or lang == "en"


def g_english_lowercase(response: str) -> float:
    """Fraction of cased letters that are lowercase: a weak policy that slips in a few capitals
    still gets most of the reward, and more for fewer slips."""
    return _letter_fraction(response, upper=False)


def r_english_lowercase(response: str) -> str | None:
    """Lower-case it (None through the verifier when the text is not English)."""
    return response.lower()


ENGLISH_LOWERCASE = _t("change_case:english_lowercase", verify=v_english_lowercase, templates=(
    "Your entire response should be in English, and in all lowercase letters. No capital letters are allowed.",
    "reply in english using only lowercase letters, no capitals at all.",
    "Write the whole answer in English without a single capital letter.",
), sample=_NO_KW, graded=g_english_lowercase, repair=r_english_lowercase, repair_rank=RANK_CASE,
    no_repair="non-English text would need a translation", description="All lowercase and English.")


TYPES = (CAPITAL_WORD_FREQUENCY, ENGLISH_CAPITAL, ENGLISH_LOWERCASE)
