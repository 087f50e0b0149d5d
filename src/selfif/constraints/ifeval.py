"""The 25 IFEval instruction types, with the official checkers' exact verdicts.

Ids and kwarg names are IFEval's, so its own ``input_data.jsonl`` runs unchanged. Each verifier
reproduces the official ``check_following`` of google-research ``instruction_following_eval``
(as packaged faithfully in ``if-verifiable``); ``tests/test_constraints_parity.py`` asserts
identical strict and loose verdicts on real model output and adversarial text.

Where the official code would silently *randomise* an argument (a missing kwarg, a negative
count, ``nth_paragraph`` out of range), we fail closed with :class:`ConstraintError` instead.

Three official regexes backtrack quadratically on pathological input (``^\\s*\\*...`` bullets,
``\\[.*?\\]`` placeholders, ``<<[^\\n]+>>`` titles, and the leading ``\\s*`` of the postscript
pattern); they are replaced by linear scans that return the same counts (asserted against the
official regexes by a property test). Deliberate deviations, both where the official code has no
defined answer:

- ``keywords:letter_frequency`` with a ``letter`` that is not an ASCII letter: the official code
  verifies a *random* letter; we count the named character (lower-cased), deterministically.
- ``detectable_format:json_format`` on JSON nested deeper than Python's recursion limit: the
  official ``json.loads`` raises ``RecursionError`` (a crash); we answer ``False``.

One deviation in what kwargs we accept: the official checkers compile keywords, forbidden
words, postscript markers and section splitters as regular expressions, so a kwargs file could
make scoring hang (``(a+)+$`` on ``"a" * 24 + "!"`` takes seconds, doubling per character).
Every such kwarg is still matched as a regex (every IFEval keyword is plain text, so verdicts are
unchanged), but :func:`regex_hazard` patterns (unbounded or nested repeats, repeats over 16,
back-references, more than 256 ways to match from one position) are refused by ``check_kwargs``
with a :class:`ConstraintError` naming the kwarg.
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections.abc import Mapping
from typing import Any

from selfif.constraints import edits as E
from selfif.constraints import text as T
from selfif.constraints.base import (
    RANK_CASE,
    RANK_BUDGET,
    RANK_EDGE,
    RANK_LAYOUT,
    RANK_MARKUP,
    RANK_PREFIX,
    RANK_WRAP,
    Arg,
    ConstraintError,
    ConstraintType,
    compare,
    hard_type,
)

RELATIONS = ("less than", "at least")

LANGUAGES: dict[str, str] = {
    "en": "English", "es": "Spanish", "pt": "Portuguese", "ar": "Arabic", "hi": "Hindi",
    "fr": "French", "ru": "Russian", "de": "German", "ja": "Japanese", "it": "Italian",
    "bn": "Bengali", "uk": "Ukrainian", "th": "Thai", "ur": "Urdu", "ta": "Tamil",
    "te": "Telugu", "bg": "Bulgarian", "ko": "Korean", "pl": "Polish", "he": "Hebrew",
    "fa": "Persian", "vi": "Vietnamese", "ne": "Nepali", "sw": "Swahili", "kn": "Kannada",
    "mr": "Marathi", "gu": "Gujarati", "pa": "Punjabi", "ml": "Malayalam", "fi": "Finnish",
    "nl": "Dutch", "sv": "Swedish", "tr": "Turkish", "id": "Indonesian", "el": "Greek",
}  # fmt: skip

# Our own keyword pool (everyday nouns, verbs and adjectives that fit most topics).
KEYWORDS: tuple[str, ...] = tuple(
    """
    river window garden market history energy memory planet science village journey answer
    balance bridge camera culture future harvest island kitchen library machine mountain network
    ocean pattern pocket puzzle rhythm season shadow signal silver simple spirit station story
    summer thunder ticket travel treasure valley voice winter wonder budget coffee courage detail
    engine friend habit lantern letter method mirror morning orange paper pencil picture promise
    quality reason recipe school secret shelter smile stone student teacher theory tomorrow tower
    tradition victory weather whisper wisdom yellow anchor compass feather forest candle canvas
    """.split()
)

END_PHRASES: tuple[str, ...] = (
    "Is there anything else I can help with?",
    "Any other questions?",
    "Let me know if you have additional questions.",
    "Hope this helps!",
    "That is all for now.",
    "Thank you for reading.",
    "Does this make sense?",
    "Peace out.",
)
SECTION_SPLITTERS: tuple[str, ...] = ("Section", "SECTION", "Part", "PART", "Chapter", "Step")
POSTSCRIPT_MARKERS: tuple[str, ...] = ("P.S.", "P.P.S")
CONSTRAINED_OPTIONS: tuple[str, ...] = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


# ---------------------------------------------------------------- validation helpers

def _relation(name: str):
    def check(kw: dict[str, Any]) -> None:
        if name in kw and kw[name] not in RELATIONS:
            raise ConstraintError(f"kwarg {name!r} must be one of {RELATIONS}, got {kw[name]!r}")

    return check


def _non_negative(*names: str):
    def check(kw: dict[str, Any]) -> None:
        for n in names:
            if n in kw and kw[n] < 0:
                raise ConstraintError(f"kwarg {n!r} must be >= 0, got {kw[n]!r}")

    return check


def _regex(*names: str):
    """Keywords and markers are used as regular expressions by the official checkers; patterns
    that could backtrack for minutes on a long response are refused (module docstring)."""

    def check(kw: dict[str, Any]) -> None:
        for n in names:
            vals = kw.get(n)
            for v in [vals] if isinstance(vals, str) else (vals or []):
                try:
                    re.compile(v)
                except re.error as e:
                    raise ConstraintError(f"kwarg {n!r}: {v!r} is not a valid pattern ({e})") from None
                why = regex_hazard(v)
                if why:
                    raise ConstraintError(
                        f"kwarg {n!r}: {v!r} is matched as a regular expression and has {why}, "
                        "which can make scoring hang; write the word itself"
                    )

    return check


_MAX_BOUNDED_REPEAT = 16
_MAX_PATHS = 256


def _match_paths(items) -> int:
    """How many ways a backtracking matcher can walk ``items`` from one start position (capped
    at ``_MAX_PATHS + 1``): a sequence multiplies its parts, an alternation adds its branches,
    ``x{lo,hi}`` sums ``paths(x) ** k`` for k in lo..hi; lookarounds are counted as if they
    multiplied (an over-estimate, which is the safe side). Unbounded repeats are refused before."""
    from re import _constants as C

    cap = _MAX_PATHS + 1
    total = 1
    for op, av in items:
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            lo, hi, sub = av
            p, n = _match_paths(sub), 0
            for k in range(lo, min(hi, _MAX_BOUNDED_REPEAT) + 1):
                n = min(cap, n + min(cap, p**k) if p > 1 else n + 1)
        elif op is C.SUBPATTERN:
            n = _match_paths(av[-1])
        elif op is C.BRANCH:
            n = min(cap, sum(_match_paths(b) for b in av[1]))
        elif op in (C.ASSERT, C.ASSERT_NOT):
            n = _match_paths(av[-1])
        elif op is C.ATOMIC_GROUP:
            n = _match_paths(av)
        else:  # one character, class, category or anchor: one way
            n = 1
        total = min(cap, total * n)
    return total


def regex_hazard(pattern: str) -> str | None:
    """Why ``pattern`` could take super-linear time to search, or ``None``.

    Searching costs up to (text length) x (work per start position); this keeps the work per
    position small and bounded, so every accepted pattern searches in time linear in the
    response: no unbounded repeat (``*``, ``+``, ``{n,}``: ``a+b`` on a megabyte of ``a`` is
    quadratic), no repeat inside a repeat (``(a+)+`` is exponential), no repeat over more than
    16, no back-reference, and at most 256 ways to walk the pattern from one position
    (:func:`_match_paths`: ``a?`` thirty times, then ``a`` thirty times, has 2**30 and hangs on
    thirty ``a``; so does ``(a|a)`` thirty times). Plain words have one way and pass.

    Why a bound on the pattern rather than another engine: RE2 (``google-re2``) matches in linear
    time, but its ``\\b``, ``\\w`` and ``\\s`` are ASCII-only, so verdicts on non-English text
    would differ from the official checkers, which use Python's ``re``; and ``re`` cannot be
    interrupted by a per-match time limit from a worker thread. The bound keeps ``re`` (exact
    official semantics) and refuses only patterns no IFEval kwarg uses.
    """
    from re import _constants as C
    from re import _parser

    try:
        tree = _parser.parse(pattern)
    except re.error:
        return None  # reported as an invalid pattern by the caller

    def walk(items, in_repeat: bool) -> str | None:
        for op, av in items:
            if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
                lo, hi, sub = av
                if hi == C.MAXREPEAT:
                    return "an unbounded repeat"
                if in_repeat:
                    return "a repeat inside a repeat"
                if hi > _MAX_BOUNDED_REPEAT:
                    return f"a repeat of more than {_MAX_BOUNDED_REPEAT}"
                why = walk(sub, True)
            elif op in (C.GROUPREF, C.GROUPREF_EXISTS):
                return "a back-reference"
            elif op is C.SUBPATTERN:
                why = walk(av[-1], in_repeat)
            elif op is C.BRANCH:
                why = next((w for b in av[1] if (w := walk(b, in_repeat))), None)
            elif op in (C.ASSERT, C.ASSERT_NOT):
                why = walk(av[-1], in_repeat)
            elif op is C.ATOMIC_GROUP:
                why = walk(av, in_repeat)
            else:
                why = None
            if why:
                return why
        return None

    why = walk(tree, False)
    if why is None and _match_paths(tree) > _MAX_PATHS:
        why = f"more than {_MAX_PATHS} ways to match from one position (chained optional parts or alternatives)"
    return why


def _all(*checks):
    def check(kw: dict[str, Any]) -> None:
        for c in checks:
            c(kw)

    return check


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)


def _quoted_list(values) -> str:
    return ", ".join(f'"{v}"' for v in values)


# ---------------------------------------------------------------- verifiers (official semantics)

def v_keywords_existence(response: str, *, keywords) -> bool:
    return all(_compiled(k, re.IGNORECASE).search(response) for k in keywords)


def v_keywords_frequency(response: str, *, keyword: str, frequency: int, relation: str) -> bool:
    n = len(_compiled(keyword.strip(), re.IGNORECASE).findall(response))
    return compare(n, relation, frequency)


def v_forbidden_words(response: str, *, forbidden_words) -> bool:
    return not any(_compiled(r"\b" + w + r"\b", re.IGNORECASE).search(response) for w in forbidden_words)


def v_letter_frequency(response: str, *, letter: str, let_frequency: int, let_relation: str) -> bool:
    """Count of ``letter`` (case-insensitive). Non-letter characters are counted as named
    (the official checker picks a random letter instead — see the module docstring)."""
    n = response.lower().count(letter.lower())
    return compare(n, let_relation, let_frequency)


def v_response_language(response: str, *, language: str) -> bool:
    lang = T.detect_language(response)
    return lang == T.UNDETECTABLE or lang == language  # undetectable counts as followed (official)


def v_number_sentences(response: str, *, num_sentences: int, relation: str) -> bool:
    return compare(T.count_sentences(response), relation, num_sentences)


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


def v_number_words(response: str, *, num_words: int, relation: str) -> bool:
    return compare(T.count_words(response), relation, num_words)


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


def count_placeholders(response: str) -> int:
    r"""Number of non-overlapping ``\[.*?\]`` matches, in linear time (``.`` stops at newlines)."""
    count = 0
    for line in response.split("\n"):
        pos = line.find("[")
        while pos != -1:
            close = line.find("]", pos + 1)
            if close == -1:
                break
            count += 1
            pos = line.find("[", close + 1)
    return count


def v_number_placeholders(response: str, *, num_placeholders: int) -> bool:
    return count_placeholders(response) >= num_placeholders


def v_postscript(response: str, *, postscript_marker: str) -> bool:
    marker = postscript_marker.strip()
    if marker == "P.P.S":
        pat = r"p\.\s?p\.\s?s"
    elif marker == "P.S.":
        pat = r"p\.\s?s\."
    else:
        pat = marker.lower()
    # The official r"\s*<marker>.*$" (MULTILINE) matches iff <marker> occurs: the affixes always match.
    return _compiled(pat, re.MULTILINE).search(response.lower()) is not None


def count_bullets(response: str) -> int:
    r"""Official bullet count, ``^\s*\*[^\*].*$`` plus ``^\s*-.*$`` (MULTILINE), in linear time.

    A match may start on a blank line and run on to the first non-blank line, so each non-blank
    line counts at most once. A line that is just ``*`` takes the newline as its ``[^\*]`` and
    swallows the following line, which therefore cannot count as a ``*`` bullet itself.
    """
    lines = response.split("\n")
    dashes = 0
    stars = 0
    skip_star_until = -1
    last = len(lines) - 1
    for i, line in enumerate(lines):
        s = line.lstrip()
        if not s:
            continue
        if s[0] == "-":
            dashes += 1
        if i <= skip_star_until or s[0] != "*":
            continue
        if len(s) >= 2:
            stars += s[1] != "*"
        elif i < last:  # a lone "*": the newline is its [^*] and the next line is consumed
            stars += 1
            skip_star_until = i + 1
    return dashes + stars


def v_number_bullet_lists(response: str, *, num_bullets: int) -> bool:
    return count_bullets(response) == num_bullets


def v_constrained_response(response: str) -> bool:
    return any(opt in response for opt in CONSTRAINED_OPTIONS)


_HIGHLIGHT = re.compile(r"\*[^\n\*]*\*")
_DOUBLE_HIGHLIGHT = re.compile(r"\*\*[^\n\*]*\*\*")


def count_highlights(response: str) -> int:
    n = sum(1 for h in _HIGHLIGHT.findall(response) if h.strip("*").strip())
    n += sum(1 for h in _DOUBLE_HIGHLIGHT.findall(response) if h.removeprefix("**").removesuffix("**").strip())
    return n


def v_number_highlighted_sections(response: str, *, num_highlights: int) -> bool:
    return count_highlights(response) >= num_highlights


def v_multiple_sections(response: str, *, section_spliter: str, num_sections: int) -> bool:
    pat = _compiled(r"\s?" + section_spliter.strip() + r"\s?\d+\s?")
    return len(pat.split(response)) - 1 >= num_sections


def v_json_format(response: str) -> bool:
    value = (
        response.strip()
        .removeprefix("```json")
        .removeprefix("```Json")
        .removeprefix("```JSON")
        .removeprefix("```")
        .removesuffix("```")
        .strip()
    )
    try:
        json.loads(value)
    except ValueError:
        return False
    except RecursionError:  # deeper than the parser can go: the official checker crashes here
        return False
    return True


def has_title(response: str) -> bool:
    r"""Any official ``<<[^\n]+>>`` match with non-blank content, in linear time.

    Per line at most one match exists: from the first ``<<`` greedily to the last ``>>``.
    """
    for line in response.split("\n"):
        i = line.find("<<")
        if i == -1:
            continue
        k = line.rfind(">>")
        if k >= i + 3 and line[i : k + 2].lstrip("<").rstrip(">").strip():
            return True
    return False


def v_title(response: str) -> bool:
    return has_title(response)


def v_two_responses(response: str) -> bool:
    parts = response.split("******")
    valid = []
    for i, p in enumerate(parts):
        if not p.strip():
            if i != 0 and i != len(parts) - 1:
                return False
        else:
            valid.append(p)
    return len(valid) == 2 and valid[0].strip() != valid[1].strip()


def v_repeat_prompt(response: str, *, prompt_to_repeat: str) -> bool:
    return response.strip().lower().startswith(prompt_to_repeat.strip().lower())


def v_end_checker(response: str, *, end_phrase: str) -> bool:
    return response.strip().strip('"').lower().endswith(end_phrase.strip().lower())


def count_capital_words(response: str) -> int:
    return T.count_upper_tokens(response)


def v_capital_word_frequency(response: str, *, capital_frequency: int, capital_relation: str) -> bool:
    return compare(count_capital_words(response), capital_relation, capital_frequency)


def v_english_capital(response: str) -> bool:
    if not response.isupper():
        return False
    lang = T.detect_language(response)
    return lang == T.UNDETECTABLE or lang == "en"


def v_english_lowercase(response: str) -> bool:
    if not response.islower():
        return False
    lang = T.detect_language(response)
    return lang == T.UNDETECTABLE or lang == "en"


def v_no_comma(response: str) -> bool:
    return "," not in response


def v_quotation(response: str) -> bool:
    v = response.strip()
    return len(v) > 1 and v[0] == '"' and v[-1] == '"'


# ---------------------------------------------------------------- graded scores (reward shaping)

def _letter_fraction(response: str, upper: bool) -> float:
    cased = [c for c in response if c.isupper() or c.islower()]
    if not cased:
        return 0.0
    return sum(1 for c in cased if c.isupper() == upper) / len(cased)


def g_english_lowercase(response: str) -> float:
    """Fraction of cased letters that are lowercase: a weak policy that slips in a few capitals
    still gets most of the reward, and more for fewer slips."""
    return _letter_fraction(response, upper=False)


def g_english_capital(response: str) -> float:
    """Fraction of cased letters that are uppercase."""
    return _letter_fraction(response, upper=True)


def g_number_words(response: str, *, num_words: int, relation: str) -> float:
    """1 when the word-count rule holds, decaying linearly with the relative distance to it."""
    n = T.count_words(response)
    if compare(n, relation, num_words):
        return 1.0
    if relation == "at least":
        return n / num_words if num_words > 0 else 1.0
    return max(0.0, 1.0 - (n - num_words + 1) / max(num_words, 1))


def g_quotation(response: str) -> float:
    """1 when wrapped; otherwise the share of the text between the first and last ``"`` (x0.9),
    or 0.25 when only one end carries a quote mark."""
    if v_quotation(response):
        return 1.0
    s = response.strip()
    if not s:
        return 0.0
    if s.count('"') >= 2:
        i, j = s.find('"'), s.rfind('"')
        return 0.9 * (j - i + 1) / len(s)
    return 0.25 if s[0] == '"' or s[-1] == '"' else 0.0


def g_no_comma(response: str) -> float:
    """1 / (1 + number of commas)."""
    return 1.0 / (1.0 + response.count(","))


def g_title(response: str) -> float:
    """1 for a proper ``<<title>>``; 0.5 for angle brackets that do not form one; 0.25 for a
    markdown heading (the right idea, wrong markup)."""
    if has_title(response):
        return 1.0
    if "<<" in response or ">>" in response:
        return 0.5
    if re.search(r"(?m)^\s*#{1,6}\s+\S", response):
        return 0.25
    return 0.0


def g_end_checker(response: str, *, end_phrase: str) -> float:
    """1 when the response ends with the phrase; 0.6 when the phrase occurs but not at the end;
    else up to 0.5 for the share of the phrase's words found in the response's tail."""
    if v_end_checker(response, end_phrase=end_phrase):
        return 1.0
    low = response.lower()
    phrase = end_phrase.strip().lower()
    if phrase and phrase in low:
        return 0.6
    want = T.words(phrase)
    if not want:
        return 0.0
    tail = set(T.words(low)[-2 * len(want) :])
    return 0.5 * sum(1 for w in want if w in tail) / len(want)


# ---------------------------------------------------------------- repairs (registry.repair)
#
# Each takes the policy's response plus the verifier's kwargs and returns a minimally edited
# response, or None where no honest edit exists. The registry only calls them on a non-blank
# response that fails, and returns the result only if the strict verifier accepts it.

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


def r_forbidden_words(response: str, *, forbidden_words) -> str | None:
    """Drop the sentences that use a forbidden word (deleting the word alone breaks grammar)."""
    pats = [_compiled(r"\b" + w + r"\b", re.IGNORECASE) for w in forbidden_words]
    return E.drop_sentences(response, lambda s: any(p.search(s) for p in pats))


def r_number_sentences(response: str, *, num_sentences: int, relation: str, keep_last: int = 0) -> str | None:
    """"less than": keep the first N-1 sentences. "at least": None (needs new sentences).

    ``keep_last`` (set by :func:`registry.repair_chain`): also keep that many closing sentences
    that earlier repairs appended, dropping body sentences before them instead."""
    if relation != "less than" or num_sentences < 2:
        return None
    return E.first_sentences(response, num_sentences - 1, keep_last=keep_last)


def r_number_paragraphs(response: str, *, num_paragraphs: int) -> str | None:
    """Regroup the paragraphs (or, when too few, the sentences) into N, separated by ***."""
    groups = E.regroup(_STARS3.sub("", response), num_paragraphs)
    return "\n\n***\n\n".join(groups) if groups else None


_STARS3 = re.compile(r"\*{3,}")


def r_number_words(response: str, *, num_words: int, relation: str, keep_last: int = 0) -> str | None:
    """"less than": keep the leading sentences that fit (and ``keep_last`` closing ones, as in
    :func:`r_number_sentences`). "at least": None (padding)."""
    if relation != "less than":
        return None
    return E.first_sentences(response, None, fits=lambda t: T.count_words(t) < num_words, keep_last=keep_last)


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


_PLACEHOLDER_NAMES = ("name", "date", "address", "email", "phone number", "company", "city", "time")


def r_number_placeholders(response: str, *, num_placeholders: int) -> str | None:
    """A closing line with the missing [name]-style placeholders (at most eight)."""
    missing = num_placeholders - count_placeholders(response)
    if missing > len(_PLACEHOLDER_NAMES):
        return None
    fields = " and ".join(f"[{n}]" for n in _PLACEHOLDER_NAMES[:missing])
    return response.rstrip() + f"\nFill in {fields}."


def r_postscript(response: str, *, postscript_marker: str) -> str | None:
    """Append a short postscript that starts with the marker."""
    marker = postscript_marker.strip()
    return response.rstrip() + f"\n\n{marker} I hope this helps."


def r_number_bullet_lists(response: str, *, num_bullets: int) -> str | None:
    """A list with at least N items keeps the text up to its Nth item, items as ``* `` bullets,
    plus what follows the last item (a conclusion); otherwise the lines (or sentences) are
    recast as N bullets."""
    if num_bullets < 1:
        return None
    # a bare marker ("* ", "1.") is no item; dropped, since IFEval may still count it as a bullet
    lines = [ln for ln in response.strip().split("\n") if not E.is_list_item(ln) or E.lines_of(ln)]
    items = [i for i, line in enumerate(lines) if E.is_list_item(line)]
    if len(items) >= num_bullets:
        head = ["* " + E.lines_of(line)[0] if E.is_list_item(line) else line for line in lines[: items[num_bullets - 1] + 1]]
        return "\n".join(head + lines[items[-1] + 1 :]).strip()
    units = E.lines_of(response)
    if len(units) < num_bullets:
        units = E.sentences_of(response)
    groups = E.group([u.lstrip("*-+• ") for u in units], num_bullets, " ")
    return "\n".join("* " + g for g in groups) if groups else None


def r_constrained_response(response: str) -> str | None:
    """Append the option the response leans to (yes/no from its first word), else maybe."""
    first = (T.words(response.lower()) or ("",))[0]
    option = {"yes": 0, "no": 1}.get(first, 2)
    return response.rstrip() + "\n\n" + CONSTRAINED_OPTIONS[option]


_HIGHLIGHTABLE = re.compile(r"(?<=[ \t])([A-Za-z][A-Za-z'\-]{3,})(?=[ \t.,;:!?])")


def r_number_highlighted_sections(response: str, *, num_highlights: int) -> str | None:
    """Bold (``**word**``, which IFEval counts as a highlight and which never reads as a bullet)
    the longest words that are not the first of a line, one per sentence where possible."""
    missing = num_highlights - count_highlights(response)
    lines = response.split("\n")
    spots = []  # (line, start, end, length)
    for li, line in enumerate(lines):
        if "*" in line.lstrip().removeprefix("* "):  # a bullet's own mark is fine
            continue
        for m in _HIGHLIGHTABLE.finditer(line):
            spots.append((li, m.start(), m.end(), m.end() - m.start()))
    if len(spots) < missing:
        return None
    chosen = sorted(sorted(spots, key=lambda s: -s[3])[:missing], key=lambda s: (s[0], -s[1]))
    for li, a, b, _ in chosen:  # right to left within a line keeps the offsets valid
        line = lines[li]
        lines[li] = line[:a] + "**" + line[a:b] + "**" + line[b:]
    return "\n".join(lines)


def r_multiple_sections(response: str, *, section_spliter: str, num_sections: int) -> str | None:
    """Regroup the paragraphs (or sentences) into N sections headed "<splitter> i"."""
    groups = E.regroup(response, num_sections, "\n\n")
    if not groups:
        return None
    name = section_spliter.strip()
    return "\n\n".join(f"{name} {i}\n{g}" for i, g in enumerate(groups, 1))


def r_json_format(response: str) -> str | None:
    """The text as the one string field of a JSON object (key in the text's case)."""
    text = response.strip()
    key = "ANSWER" if text.isupper() else "answer"
    return json.dumps({key: text}, ensure_ascii=False)


def r_title(response: str) -> str | None:
    """Prepend ``<<title>>``: a leading markdown heading becomes the title, else the opening words
    of the first sentence that is not a pleasantry ("Sure, ...")."""
    lines = response.strip().split("\n")
    heading = re.match(r"#{1,6}\s+(.*\S)", lines[0])
    if heading:
        return "\n".join([f"<<{heading.group(1).strip('#* ')}>>", *lines[1:]])
    words = E.title_words(response)
    return f"<<{words}>>\n\n{response.strip()}" if words else None


def r_two_responses(response: str) -> str | None:
    """Split the paragraphs (or sentences) into two halves separated by ``******``."""
    halves = E.regroup(_STARS6.sub("", response), 2, "\n\n")
    if not halves or halves[0].strip() == halves[1].strip():
        return None
    return f"{halves[0]}\n******\n{halves[1]}"


_STARS6 = re.compile(r"\*{6,}")


def r_repeat_prompt(response: str, *, prompt_to_repeat: str) -> str | None:
    """Prefix the request verbatim and a blank line."""
    return f"{prompt_to_repeat.strip()}\n\n{response.strip()}"


def r_end_checker(response: str, *, end_phrase: str) -> str | None:
    """Append the phrase as the closing sentence."""
    return E.append_sentence(response.rstrip().rstrip('"').rstrip(), end_phrase.strip())


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


def r_english_capital(response: str) -> str | None:
    """Upper-case it (None through the verifier when the text is not English)."""
    return response.upper()


def r_english_lowercase(response: str) -> str | None:
    """Lower-case it (None through the verifier when the text is not English)."""
    return response.lower()


def r_no_comma(response: str) -> str | None:
    """Drop thousands separators and commas."""
    return re.sub(r"(?<=\d),(?=\d{3})", "", response).replace(",", "")


def r_quotation(response: str) -> str | None:
    """Wrap the text in double quotes."""
    return f'"{response.strip()}"'


NO_REPAIR_LETTERS = "changing a letter's count means rewording with other words"
NO_REPAIR_LANGUAGE = "another language needs a translation, not an edit"
NO_REPAIR_LENGTH = "reaching a minimum length needs new content (padding teaches degenerate text)"


# ---------------------------------------------------------------- samplers

def _rel(rng: random.Random) -> str:
    return rng.choice(RELATIONS)


def _s_keywords(rng):
    return {"keywords": rng.sample(KEYWORDS, rng.randint(1, 3))}


def _s_frequency(rng):
    return {"keyword": rng.choice(KEYWORDS), "frequency": rng.randint(1, 5), "relation": _rel(rng)}


def _s_forbidden(rng):
    return {"forbidden_words": rng.sample(KEYWORDS, rng.randint(1, 3))}


def _s_letter(rng):
    return {"letter": rng.choice("abcdefghijklmnopqrstuvwxyz"), "let_frequency": rng.randint(1, 12), "let_relation": _rel(rng)}


def _s_paragraphs_nth(rng):
    n = rng.randint(2, 5)
    return {"num_paragraphs": n, "nth_paragraph": rng.randint(1, n), "first_word": rng.choice(KEYWORDS)}


# ---------------------------------------------------------------- formatting for templates

def _fmt_keywords(kw: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(kw)
    for k in ("keywords", "forbidden_words"):
        if k in out:
            out[k] = _quoted_list(out[k])
    if "language" in out:
        out["language_name"] = LANGUAGES.get(out["language"], out["language"])
    for k in ("nth_paragraph", "num_sections"):
        if k in out:
            out[k + "_ord"] = _ordinal(out[k])
    return out


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# ---------------------------------------------------------------- the table

def _t(*args, **kwargs) -> ConstraintType:
    """An IFEval type: keyword lists are rendered as quoted, comma-separated text."""
    return hard_type(*args, format_kwargs=_fmt_keywords, ifeval=True, **kwargs)


_NO_KW = lambda rng: {}  # noqa: E731 - types without arguments

TYPES: tuple[ConstraintType, ...] = (
    _t("keywords:existence", verify=v_keywords_existence, templates=(
        "Include the keywords {keywords} in your response.",
        "Make sure your answer mentions {keywords}.",
        "Your reply must contain the words {keywords}.",
    ), sample=_s_keywords, args={"keywords": list}, validate=_regex("keywords"),
        repair=r_keywords_existence, description="Every keyword occurs (case-insensitive)."),
    _t("keywords:frequency", verify=v_keywords_frequency, templates=(
        'In your response, the word "{keyword}" should appear {relation} {frequency} times.',
        'Use the word "{keyword}" {relation} {frequency} times in your answer.',
        'The word "{keyword}" must occur {relation} {frequency} times in what you write.',
    ), sample=_s_frequency, args={"keyword": str, "frequency": int, "relation": str},
        validate=_all(_relation("relation"), _non_negative("frequency"), _regex("keyword")),
        repair=r_keywords_frequency, description="Keyword count vs threshold."),
    _t("keywords:forbidden_words", verify=v_forbidden_words, templates=(
        "Do not include the words {forbidden_words} in your response.",
        "Avoid the words {forbidden_words} entirely.",
        "Your answer must not contain any of these words: {forbidden_words}.",
    ), sample=_s_forbidden, args={"forbidden_words": list}, validate=_regex("forbidden_words"),
        repair=r_forbidden_words, description="No forbidden word as a whole word."),
    _t("keywords:letter_frequency", verify=v_letter_frequency, templates=(
        'In your response, the letter "{letter}" should appear {let_relation} {let_frequency} times.',
        'Make sure the letter "{letter}" is used {let_relation} {let_frequency} times.',
        'Write your answer so that the letter "{letter}" occurs {let_relation} {let_frequency} times.',
    ), sample=_s_letter, args={"letter": str, "let_frequency": int, "let_relation": str},
        validate=_all(_relation("let_relation"), _non_negative("let_frequency"), lambda kw: _single_char(kw)),
        no_repair=NO_REPAIR_LETTERS, description="Letter count vs threshold."),
    _t("language:response_language", verify=v_response_language, templates=(
        "Your ENTIRE response should be in {language_name}; no other language is allowed.",
        "Answer only in {language_name}.",
        "Write the whole reply in the {language_name} language.",
    ), sample=lambda rng: {"language": rng.choice([c for c in LANGUAGES if c != "en"])}, args={"language": str},
        no_repair=NO_REPAIR_LANGUAGE, description="langdetect says the language."),
    _t("length_constraints:number_sentences", verify=v_number_sentences, templates=(
        "Your response should contain {relation} {num_sentences} sentences.",
        "Answer with {relation} {num_sentences} sentences.",
        "Use {relation} {num_sentences} sentences in your reply.",
    ), sample=lambda rng: {"num_sentences": rng.randint(1, 20), "relation": _rel(rng)},
        args={"num_sentences": int, "relation": str}, validate=_all(_relation("relation"), _non_negative("num_sentences")),
        repair=r_number_sentences, repair_rank=RANK_BUDGET, no_repair=NO_REPAIR_LENGTH + ' ("at least" only)',
        description="Punkt sentence count vs threshold."),
    _t("length_constraints:number_paragraphs", verify=v_number_paragraphs, templates=(
        "There should be {num_paragraphs} paragraphs. Paragraphs are separated with the markdown divider: ***",
        "Write exactly {num_paragraphs} paragraphs and put the markdown divider *** between them.",
        "Your answer must have {num_paragraphs} paragraphs, separated from each other by ***.",
    ), sample=lambda rng: {"num_paragraphs": rng.randint(2, 6)}, args={"num_paragraphs": int},
        validate=_non_negative("num_paragraphs"), repair=r_number_paragraphs, repair_rank=RANK_LAYOUT,
        description="Exactly N ***-separated paragraphs."),
    _t("length_constraints:number_words", verify=v_number_words, templates=(
        "Answer with {relation} {num_words} words.",
        "Your response should be {relation} {num_words} words long.",
        "Write {relation} {num_words} words.",
    ), sample=lambda rng: {"num_words": rng.choice(range(50, 401, 10)), "relation": _rel(rng)},
        args={"num_words": int, "relation": str}, validate=_all(_relation("relation"), _non_negative("num_words")),
        graded=g_number_words, repair=r_number_words, repair_rank=RANK_BUDGET, no_repair=NO_REPAIR_LENGTH + ' ("at least" only)',
        description="Word count vs threshold."),
    _t("length_constraints:nth_paragraph_first_word", verify=v_nth_paragraph_first_word, templates=(
        "There should be {num_paragraphs} paragraphs, separated from each other by two new lines. "
        'The {nth_paragraph_ord} paragraph must start with the word "{first_word}".',
        "Write {num_paragraphs} paragraphs separated by blank lines; "
        'begin paragraph {nth_paragraph} with the word "{first_word}".',
        "Use exactly {num_paragraphs} paragraphs (split by an empty line), and the "
        '{nth_paragraph_ord} one has to open with "{first_word}".',
    ), sample=_s_paragraphs_nth, args={"num_paragraphs": int, "nth_paragraph": int, "first_word": str},
        validate=lambda kw: _nth_ok(kw), repair=r_nth_paragraph_first_word, repair_rank=RANK_LAYOUT,
        description="Paragraph count and first word of the nth."),
    _t("detectable_content:number_placeholders", verify=v_number_placeholders, templates=(
        "The response must contain at least {num_placeholders} placeholders in square brackets, such as [address].",
        "Include at least {num_placeholders} placeholders written like [name].",
        "Leave at least {num_placeholders} fill-in placeholders in square brackets, e.g. [date].",
    ), sample=lambda rng: {"num_placeholders": rng.randint(1, 5)}, args={"num_placeholders": int},
        validate=_non_negative("num_placeholders"), repair=r_number_placeholders, repair_rank=RANK_MARKUP,
        description="At least N [placeholders]."),
    _t("detectable_content:postscript", verify=v_postscript, templates=(
        "At the end of your response, please explicitly add a postscript starting with {postscript_marker}",
        "Finish with a postscript that begins with {postscript_marker}",
        "Add a note at the very end that starts with {postscript_marker}",
    ), sample=lambda rng: {"postscript_marker": rng.choice(POSTSCRIPT_MARKERS)}, args={"postscript_marker": str},
        validate=_regex("postscript_marker"), repair=r_postscript, repair_rank=RANK_EDGE,
        description="A postscript marker occurs."),
    _t("detectable_format:number_bullet_lists", verify=v_number_bullet_lists, templates=(
        "Your answer must contain exactly {num_bullets} bullet points. Use markdown bullet points such as:\n* This is point 1.",
        "Give exactly {num_bullets} markdown bullet points (lines starting with *).",
        "Format your reply as a list of exactly {num_bullets} bullets, each line beginning with '* '.",
    ), sample=lambda rng: {"num_bullets": rng.randint(1, 6)}, args={"num_bullets": int},
        validate=_non_negative("num_bullets"), repair=r_number_bullet_lists, repair_rank=RANK_LAYOUT,
        description="Exactly N bullet lines."),
    _t("detectable_format:constrained_response", verify=v_constrained_response, templates=(
        "Answer with one of the following options: ('My answer is yes.', 'My answer is no.', 'My answer is maybe.')",
        'Your reply must include one of: "My answer is yes.", "My answer is no.", "My answer is maybe."',
        'Respond with exactly one of these sentences: "My answer is yes.", "My answer is no.", or "My answer is maybe."',
    ), sample=_NO_KW, repair=r_constrained_response, repair_rank=RANK_EDGE,
        description="One of the fixed answer options occurs."),
    _t("detectable_format:number_highlighted_sections", verify=v_number_highlighted_sections, templates=(
        "Highlight at least {num_highlights} sections in your answer with markdown, i.e. *highlighted section*.",
        "Use markdown to highlight at least {num_highlights} parts of your reply, like *this*.",
        "Mark at least {num_highlights} sections as highlighted with asterisks, e.g. *important part*.",
    ), sample=lambda rng: {"num_highlights": rng.randint(1, 4)}, args={"num_highlights": int},
        validate=_non_negative("num_highlights"), repair=r_number_highlighted_sections, repair_rank=RANK_MARKUP,
        description="At least N *highlighted* spans."),
    _t("detectable_format:multiple_sections", verify=v_multiple_sections, templates=(
        "Your response must have {num_sections} sections. Mark the beginning of each section with {section_spliter} X, such as:\n"
        "{section_spliter} 1\n[content of section 1]\n{section_spliter} 2\n[content of section 2]",
        "Split your answer into {num_sections} sections, each starting with '{section_spliter} N' (N = 1, 2, ...).",
        "Organise the reply in {num_sections} parts headed {section_spliter} 1, {section_spliter} 2, and so on.",
    ), sample=lambda rng: {"section_spliter": rng.choice(SECTION_SPLITTERS), "num_sections": rng.randint(2, 5)},
        args={"section_spliter": str, "num_sections": int}, validate=_all(_non_negative("num_sections"), _regex("section_spliter")),
        repair=r_multiple_sections, repair_rank=RANK_LAYOUT, description="At least N '<splitter> <number>' section marks."),
    _t("detectable_format:json_format", verify=v_json_format, templates=(
        "Entire output should be wrapped in JSON format. You can use markdown ticks such as ```.",
        "Return your whole answer as valid JSON (a ```json code fence is fine).",
        "Format the complete response as a JSON object.",
    ), sample=_NO_KW, repair=r_json_format, repair_rank=RANK_WRAP + 5,
        description="The response (optionally fenced) parses as JSON."),
    _t("detectable_format:title", verify=v_title, templates=(
        "Your answer must contain a title, wrapped in double angular brackets, such as <<poem of joy>>.",
        "Give your reply a title in double angle brackets, like <<my title>>.",
        "Start with a title written as <<Title>>.",
    ), sample=_NO_KW, graded=g_title, repair=r_title, repair_rank=RANK_EDGE,
        description="A non-empty <<title>> occurs."),
    _t("combination:two_responses", verify=v_two_responses, templates=(
        "Give two different responses. Responses and only responses should be separated by 6 asterisk symbols: ******.",
        "Write two distinct answers separated by a line of six asterisks (******).",
        "Provide two alternative replies and put ****** between them.",
    ), sample=_NO_KW, repair=r_two_responses, repair_rank=RANK_LAYOUT,
        description="Exactly two different parts around ******."),
    _t("combination:repeat_prompt", verify=v_repeat_prompt, templates=(
        "First repeat the request word for word without change, then give your answer (1. do not say any words or "
        "characters before repeating the request; 2. the request you need to repeat does not include this sentence)",
        "Begin by restating the request exactly as written, then answer it (do not repeat this sentence).",
        "Copy the request verbatim at the start of your reply (without this instruction), and only then respond.",
    ), sample=_NO_KW, args={"prompt_to_repeat": Arg(str, required=False)}, fill_from_prompt="prompt_to_repeat",
        repair=r_repeat_prompt, repair_rank=RANK_PREFIX, description="Starts with the request text."),
    _t("startend:end_checker", verify=v_end_checker, templates=(
        "Finish your response with this exact phrase: {end_phrase} No other words should follow this phrase.",
        "End your reply with the exact words \"{end_phrase}\" and nothing after them.",
        "The last words of your answer must be: {end_phrase}",
    ), sample=lambda rng: {"end_phrase": rng.choice(END_PHRASES)}, args={"end_phrase": str}, graded=g_end_checker,
        repair=r_end_checker, repair_rank=RANK_EDGE + 1, description="Ends with the phrase."),
    _t("change_case:capital_word_frequency", verify=v_capital_word_frequency, templates=(
        "In your response, words with all capital letters should appear {capital_relation} {capital_frequency} times.",
        "Use {capital_relation} {capital_frequency} words written entirely in CAPITAL letters.",
        "Write {capital_relation} {capital_frequency} ALL-CAPS words in your answer.",
    ), sample=lambda rng: {"capital_frequency": rng.randint(1, 20), "capital_relation": _rel(rng)},
        args={"capital_frequency": int, "capital_relation": str}, validate=_relation("capital_relation"),
        repair=r_capital_word_frequency, repair_rank=RANK_CASE, description="All-caps word count vs threshold."),
    _t("change_case:english_capital", verify=v_english_capital, templates=(
        "Your entire response should be in English, and in all capital letters.",
        "Reply in English using only CAPITAL LETTERS.",
        "WRITE YOUR WHOLE ANSWER IN ENGLISH AND IN UPPERCASE.",
    ), sample=_NO_KW, graded=g_english_capital, repair=r_english_capital, repair_rank=RANK_CASE,
        no_repair="non-English text would need a translation", description="All uppercase and English."),
    _t("change_case:english_lowercase", verify=v_english_lowercase, templates=(
        "Your entire response should be in English, and in all lowercase letters. No capital letters are allowed.",
        "reply in english using only lowercase letters, no capitals at all.",
        "Write the whole answer in English without a single capital letter.",
    ), sample=_NO_KW, graded=g_english_lowercase, repair=r_english_lowercase, repair_rank=RANK_CASE,
        no_repair="non-English text would need a translation", description="All lowercase and English."),
    _t("punctuation:no_comma", verify=v_no_comma, templates=(
        "In your entire response, refrain from the use of any commas.",
        "Do not use any commas in your answer.",
        "Write your reply without a single comma.",
    ), sample=_NO_KW, graded=g_no_comma, repair=r_no_comma, description="No comma."),
    _t("startend:quotation", verify=v_quotation, templates=(
        "Wrap your entire response with double quotation marks.",
        'Put your whole answer inside double quotes, like "...".',
        "Enclose the complete reply in a pair of double quotation marks.",
    ), sample=_NO_KW, graded=g_quotation, repair=r_quotation, repair_rank=RANK_WRAP,
        description="Wrapped in double quotes."),
)


def _single_char(kw: dict[str, Any]) -> None:
    if "letter" in kw and len(kw["letter"]) != 1:
        raise ConstraintError(f"kwarg 'letter' must be a single character, got {kw['letter']!r}")


def _nth_ok(kw: dict[str, Any]) -> None:
    n, k = kw.get("num_paragraphs"), kw.get("nth_paragraph")
    if n is not None and n < 0:
        raise ConstraintError(f"kwarg 'num_paragraphs' must be >= 0, got {n}")
    if k is not None and n is not None and not 1 <= k <= n:
        raise ConstraintError(f"kwarg 'nth_paragraph' must be in 1..num_paragraphs ({n}), got {k}")
