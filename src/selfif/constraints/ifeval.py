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
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections.abc import Mapping
from typing import Any

from selfif.constraints import text as T
from selfif.constraints.base import ConstraintError, ConstraintType, hard_type

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
    """Keywords and markers are used as regular expressions by the official checkers."""

    def check(kw: dict[str, Any]) -> None:
        for n in names:
            vals = kw.get(n)
            for v in [vals] if isinstance(vals, str) else (vals or []):
                try:
                    re.compile(v)
                except re.error as e:
                    raise ConstraintError(f"kwarg {n!r}: {v!r} is not a valid pattern ({e})") from None

    return check


def _all(*checks):
    def check(kw: dict[str, Any]) -> None:
        for c in checks:
            c(kw)

    return check


def _compare(value: int, relation: str, threshold: int) -> bool:
    return value < threshold if relation == "less than" else value >= threshold


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
    return _compare(n, relation, frequency)


def v_forbidden_words(response: str, *, forbidden_words) -> bool:
    return not any(_compiled(r"\b" + w + r"\b", re.IGNORECASE).search(response) for w in forbidden_words)


def v_letter_frequency(response: str, *, letter: str, let_frequency: int, let_relation: str) -> bool:
    """Count of ``letter`` (case-insensitive). Non-letter characters are counted as named
    (the official checker picks a random letter instead — see the module docstring)."""
    n = response.lower().count(letter.lower())
    return _compare(n, let_relation, let_frequency)


def v_response_language(response: str, *, language: str) -> bool:
    lang = T.detect_language(response)
    return lang == T.UNDETECTABLE or lang == language  # undetectable counts as followed (official)


def v_number_sentences(response: str, *, num_sentences: int, relation: str) -> bool:
    return _compare(T.count_sentences(response), relation, num_sentences)


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
    return _compare(T.count_words(response), relation, num_words)


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
    return _compare(count_capital_words(response), capital_relation, capital_frequency)


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
    if _compare(n, relation, num_words):
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
    _t("keywords:existence", v_keywords_existence, (
        "Include the keywords {keywords} in your response.",
        "Make sure your answer mentions {keywords}.",
        "Your reply must contain the words {keywords}.",
    ), _s_keywords, {"keywords": list}, _regex("keywords"), description="Every keyword occurs (case-insensitive)."),
    _t("keywords:frequency", v_keywords_frequency, (
        'In your response, the word "{keyword}" should appear {relation} {frequency} times.',
        'Use the word "{keyword}" {relation} {frequency} times in your answer.',
        'The word "{keyword}" must occur {relation} {frequency} times in what you write.',
    ), _s_frequency, {"keyword": str, "frequency": int, "relation": str},
        _all(_relation("relation"), _non_negative("frequency"), _regex("keyword")), description="Keyword count vs threshold."),
    _t("keywords:forbidden_words", v_forbidden_words, (
        "Do not include the words {forbidden_words} in your response.",
        "Avoid the words {forbidden_words} entirely.",
        "Your answer must not contain any of these words: {forbidden_words}.",
    ), _s_forbidden, {"forbidden_words": list}, _regex("forbidden_words"), description="No forbidden word as a whole word."),
    _t("keywords:letter_frequency", v_letter_frequency, (
        'In your response, the letter "{letter}" should appear {let_relation} {let_frequency} times.',
        'Make sure the letter "{letter}" is used {let_relation} {let_frequency} times.',
        'Write your answer so that the letter "{letter}" occurs {let_relation} {let_frequency} times.',
    ), _s_letter, {"letter": str, "let_frequency": int, "let_relation": str},
        _all(_relation("let_relation"), _non_negative("let_frequency"), lambda kw: _single_char(kw)),
        description="Letter count vs threshold."),
    _t("language:response_language", v_response_language, (
        "Your ENTIRE response should be in {language_name}; no other language is allowed.",
        "Answer only in {language_name}.",
        "Write the whole reply in the {language_name} language.",
    ), lambda rng: {"language": rng.choice([c for c in LANGUAGES if c != "en"])}, {"language": str},
        description="langdetect says the language."),
    _t("length_constraints:number_sentences", v_number_sentences, (
        "Your response should contain {relation} {num_sentences} sentences.",
        "Answer with {relation} {num_sentences} sentences.",
        "Use {relation} {num_sentences} sentences in your reply.",
    ), lambda rng: {"num_sentences": rng.randint(1, 20), "relation": _rel(rng)},
        {"num_sentences": int, "relation": str}, _all(_relation("relation"), _non_negative("num_sentences")),
        description="Punkt sentence count vs threshold."),
    _t("length_constraints:number_paragraphs", v_number_paragraphs, (
        "There should be {num_paragraphs} paragraphs. Paragraphs are separated with the markdown divider: ***",
        "Write exactly {num_paragraphs} paragraphs and put the markdown divider *** between them.",
        "Your answer must have {num_paragraphs} paragraphs, separated from each other by ***.",
    ), lambda rng: {"num_paragraphs": rng.randint(2, 6)}, {"num_paragraphs": int}, _non_negative("num_paragraphs"),
        description="Exactly N ***-separated paragraphs."),
    _t("length_constraints:number_words", v_number_words, (
        "Answer with {relation} {num_words} words.",
        "Your response should be {relation} {num_words} words long.",
        "Write {relation} {num_words} words.",
    ), lambda rng: {"num_words": rng.choice(range(50, 401, 10)), "relation": _rel(rng)},
        {"num_words": int, "relation": str}, _all(_relation("relation"), _non_negative("num_words")),
        graded=g_number_words, description="Word count vs threshold."),
    _t("length_constraints:nth_paragraph_first_word", v_nth_paragraph_first_word, (
        "There should be {num_paragraphs} paragraphs, separated from each other by two new lines. "
        'The {nth_paragraph_ord} paragraph must start with the word "{first_word}".',
        "Write {num_paragraphs} paragraphs separated by blank lines; "
        'begin paragraph {nth_paragraph} with the word "{first_word}".',
        "Use exactly {num_paragraphs} paragraphs (split by an empty line), and the "
        '{nth_paragraph_ord} one has to open with "{first_word}".',
    ), _s_paragraphs_nth, {"num_paragraphs": int, "nth_paragraph": int, "first_word": str},
        lambda kw: _nth_ok(kw), description="Paragraph count and first word of the nth."),
    _t("detectable_content:number_placeholders", v_number_placeholders, (
        "The response must contain at least {num_placeholders} placeholders in square brackets, such as [address].",
        "Include at least {num_placeholders} placeholders written like [name].",
        "Leave at least {num_placeholders} fill-in placeholders in square brackets, e.g. [date].",
    ), lambda rng: {"num_placeholders": rng.randint(1, 5)}, {"num_placeholders": int}, _non_negative("num_placeholders"),
        description="At least N [placeholders]."),
    _t("detectable_content:postscript", v_postscript, (
        "At the end of your response, please explicitly add a postscript starting with {postscript_marker}",
        "Finish with a postscript that begins with {postscript_marker}",
        "Add a note at the very end that starts with {postscript_marker}",
    ), lambda rng: {"postscript_marker": rng.choice(POSTSCRIPT_MARKERS)}, {"postscript_marker": str},
        _regex("postscript_marker"), description="A postscript marker occurs."),
    _t("detectable_format:number_bullet_lists", v_number_bullet_lists, (
        "Your answer must contain exactly {num_bullets} bullet points. Use markdown bullet points such as:\n* This is point 1.",
        "Give exactly {num_bullets} markdown bullet points (lines starting with *).",
        "Format your reply as a list of exactly {num_bullets} bullets, each line beginning with '* '.",
    ), lambda rng: {"num_bullets": rng.randint(1, 6)}, {"num_bullets": int}, _non_negative("num_bullets"),
        description="Exactly N bullet lines."),
    _t("detectable_format:constrained_response", v_constrained_response, (
        "Answer with one of the following options: ('My answer is yes.', 'My answer is no.', 'My answer is maybe.')",
        'Your reply must include one of: "My answer is yes.", "My answer is no.", "My answer is maybe."',
        'Respond with exactly one of these sentences: "My answer is yes.", "My answer is no.", or "My answer is maybe."',
    ), _NO_KW, description="One of the fixed answer options occurs."),
    _t("detectable_format:number_highlighted_sections", v_number_highlighted_sections, (
        "Highlight at least {num_highlights} sections in your answer with markdown, i.e. *highlighted section*.",
        "Use markdown to highlight at least {num_highlights} parts of your reply, like *this*.",
        "Mark at least {num_highlights} sections as highlighted with asterisks, e.g. *important part*.",
    ), lambda rng: {"num_highlights": rng.randint(1, 4)}, {"num_highlights": int}, _non_negative("num_highlights"),
        description="At least N *highlighted* spans."),
    _t("detectable_format:multiple_sections", v_multiple_sections, (
        "Your response must have {num_sections} sections. Mark the beginning of each section with {section_spliter} X, such as:\n"
        "{section_spliter} 1\n[content of section 1]\n{section_spliter} 2\n[content of section 2]",
        "Split your answer into {num_sections} sections, each starting with '{section_spliter} N' (N = 1, 2, ...).",
        "Organise the reply in {num_sections} parts headed {section_spliter} 1, {section_spliter} 2, and so on.",
    ), lambda rng: {"section_spliter": rng.choice(SECTION_SPLITTERS), "num_sections": rng.randint(2, 5)},
        {"section_spliter": str, "num_sections": int}, _all(_non_negative("num_sections"), _regex("section_spliter")),
        description="At least N '<splitter> <number>' section marks."),
    _t("detectable_format:json_format", v_json_format, (
        "Entire output should be wrapped in JSON format. You can use markdown ticks such as ```.",
        "Return your whole answer as valid JSON (a ```json code fence is fine).",
        "Format the complete response as a JSON object.",
    ), _NO_KW, description="The response (optionally fenced) parses as JSON."),
    _t("detectable_format:title", v_title, (
        "Your answer must contain a title, wrapped in double angular brackets, such as <<poem of joy>>.",
        "Give your reply a title in double angle brackets, like <<my title>>.",
        "Start with a title written as <<Title>>.",
    ), _NO_KW, graded=g_title, description="A non-empty <<title>> occurs."),
    _t("combination:two_responses", v_two_responses, (
        "Give two different responses. Responses and only responses should be separated by 6 asterisk symbols: ******.",
        "Write two distinct answers separated by a line of six asterisks (******).",
        "Provide two alternative replies and put ****** between them.",
    ), _NO_KW, description="Exactly two different parts around ******."),
    _t("combination:repeat_prompt", v_repeat_prompt, (
        "First repeat the request word for word without change, then give your answer (1. do not say any words or "
        "characters before repeating the request; 2. the request you need to repeat does not include this sentence)",
        "Begin by restating the request exactly as written, then answer it (do not repeat this sentence).",
        "Copy the request verbatim at the start of your reply (without this instruction), and only then respond.",
    ), _NO_KW, {"prompt_to_repeat": str}, required=frozenset(),
        description="Starts with the request text.",
        extra={"fill_from_prompt": "prompt_to_repeat"}),
    _t("startend:end_checker", v_end_checker, (
        "Finish your response with this exact phrase: {end_phrase} No other words should follow this phrase.",
        "End your reply with the exact words \"{end_phrase}\" and nothing after them.",
        "The last words of your answer must be: {end_phrase}",
    ), lambda rng: {"end_phrase": rng.choice(END_PHRASES)}, {"end_phrase": str}, graded=g_end_checker,
        description="Ends with the phrase."),
    _t("change_case:capital_word_frequency", v_capital_word_frequency, (
        "In your response, words with all capital letters should appear {capital_relation} {capital_frequency} times.",
        "Use {capital_relation} {capital_frequency} words written entirely in CAPITAL letters.",
        "Write {capital_relation} {capital_frequency} ALL-CAPS words in your answer.",
    ), lambda rng: {"capital_frequency": rng.randint(1, 20), "capital_relation": _rel(rng)},
        {"capital_frequency": int, "capital_relation": str}, _relation("capital_relation"),
        description="All-caps word count vs threshold."),
    _t("change_case:english_capital", v_english_capital, (
        "Your entire response should be in English, and in all capital letters.",
        "Reply in English using only CAPITAL LETTERS.",
        "WRITE YOUR WHOLE ANSWER IN ENGLISH AND IN UPPERCASE.",
    ), _NO_KW, graded=g_english_capital, description="All uppercase and English."),
    _t("change_case:english_lowercase", v_english_lowercase, (
        "Your entire response should be in English, and in all lowercase letters. No capital letters are allowed.",
        "reply in english using only lowercase letters, no capitals at all.",
        "Write the whole answer in English without a single capital letter.",
    ), _NO_KW, graded=g_english_lowercase, description="All lowercase and English."),
    _t("punctuation:no_comma", v_no_comma, (
        "In your entire response, refrain from the use of any commas.",
        "Do not use any commas in your answer.",
        "Write your reply without a single comma.",
    ), _NO_KW, graded=g_no_comma, description="No comma."),
    _t("startend:quotation", v_quotation, (
        "Wrap your entire response with double quotation marks.",
        'Put your whole answer inside double quotes, like "...".',
        "Enclose the complete reply in a pair of double quotation marks.",
    ), _NO_KW, graded=g_quotation, description="Wrapped in double quotes."),
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
