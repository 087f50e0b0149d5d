"""Hard constraint types beyond IFEval (IFBench-style), all checkable by a few lines of code.

They widen the hard-constraint pool for synthesis and RL so a policy is not trained on IFEval's
25 verifiers alone (which would overfit the benchmark). Word and sentence notions are the same
as the IFEval types' (``\\w+`` runs; Punkt English sentences), so the two families agree on what
a "word" or a "sentence" is.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import Any

from selfif.constraints import edits as E
from selfif.constraints import text as T
from selfif.constraints.base import RANK_BUDGET, RANK_CASE, RANK_EDGE, RANK_PREFIX, ConstraintError, ConstraintType, compare, hard_type
from selfif.constraints.ifeval import KEYWORDS, NO_REPAIR_LENGTH, RELATIONS, r_number_sentences

# Common English function words (our own list), for stop-word ratio and repetition limits.
STOP_WORDS: frozenset[str] = frozenset(
    """
    a an the and or but nor so yet for of in on at by to from with without into onto over under
    about above below between among through during before after since until while as than then
    is am are was were be been being do does did done have has had having will would shall should
    can could may might must i me my mine we us our ours you your yours he him his she her hers it
    its they them their theirs this that these those who whom whose which what where when why how
    not no yes if else also just only very too all any some each every both either neither such
    there here up down out off again further once more most other same own few many much
    """.split()
)
PUNCTUATION_MARKS: dict[str, str] = {
    "!": "exclamation marks (!)",
    "?": "question marks (?)",
    ";": "semicolons (;)",
    ":": "colons (:)",
    "-": "hyphens (-)",
}
_SINGLE_WORD = re.compile(r"^\w+$")


def _validate(**rules):
    """Value checks: name -> (predicate, message)."""

    def check(kw: dict[str, Any]) -> None:
        for name, (pred, msg) in rules.items():
            if name in kw and not pred(kw[name]):
                raise ConstraintError(f"kwarg {name!r} {msg}, got {kw[name]!r}")

    return check


# ---------------------------------------------------------------- verifiers

def v_exact_sentences(response: str, *, num_sentences: int) -> bool:
    """Exactly N Punkt sentences."""
    return T.count_sentences(response) == num_sentences


def g_exact_sentences(response: str, *, num_sentences: int) -> float:
    """1 at the target, minus 1/N per sentence of distance."""
    return max(0.0, 1.0 - abs(T.count_sentences(response) - num_sentences) / max(num_sentences, 1))


def v_no_digits(response: str) -> bool:
    """No digit characters at all (numbers must be spelled out)."""
    return not any(ch.isdigit() for ch in response)


def g_no_digits(response: str) -> float:
    """1 / (1 + number of digits)."""
    return 1.0 / (1.0 + sum(ch.isdigit() for ch in response))


def v_start_keyword(response: str, *, keyword: str) -> bool:
    """The first word is the keyword (case-insensitive)."""
    w = T.words(response)
    return bool(w) and w[0].lower() == keyword.lower()


def v_end_keyword(response: str, *, keyword: str) -> bool:
    """The last word is the keyword (case-insensitive); trailing punctuation is allowed."""
    w = T.words(response)
    return bool(w) and w[-1].lower() == keyword.lower()


def v_word_repetition(response: str, *, max_repeats: int) -> bool:
    """No content word (not a stop word) is used more than ``max_repeats`` times."""
    counts = Counter(w.lower() for w in T.words(response))
    return all(c <= max_repeats for w, c in counts.items() if w not in STOP_WORDS)


def v_punctuation_count(response: str, *, mark: str, frequency: int, relation: str) -> bool:
    """Number of ``mark`` characters vs the threshold."""
    return compare(response.count(mark), relation, frequency)


def v_stop_words_ratio(response: str, *, percentage: int) -> bool:
    """Stop words are at most ``percentage`` % of the words."""
    w = T.words(response)
    if not w:
        return True
    return 100 * sum(1 for x in w if x.lower() in STOP_WORDS) <= percentage * len(w)


def g_stop_words_ratio(response: str, *, percentage: int) -> float:
    """1 under the limit, then down linearly to 0 at twice the limit."""
    w = T.words(response)
    if not w:
        return 1.0
    ratio = 100 * sum(1 for x in w if x.lower() in STOP_WORDS) / len(w)
    return 1.0 if ratio <= percentage else max(0.0, 1.0 - (ratio - percentage) / max(percentage, 1))


def v_title_case(response: str) -> bool:
    """Every word that starts with a letter starts with a capital letter (at least one word)."""
    lettered = [w for w in T.words(response) if w[0].isalpha()]
    return bool(lettered) and all(w[0].isupper() for w in lettered)


def g_title_case(response: str) -> float:
    """Share of letter-initial words that are capitalised."""
    lettered = [w for w in T.words(response) if w[0].isalpha()]
    return sum(1 for w in lettered if w[0].isupper()) / len(lettered) if lettered else 0.0


def v_copy_span(response: str, *, n_start: int, n_end: int, prompt: str) -> bool:
    """The response is exactly ``prompt[n_start:n_end]`` (surrounding whitespace ignored)."""
    span = prompt[n_start:n_end].strip()
    return bool(span) and response.strip() == span


# ---------------------------------------------------------------- repairs (registry.repair)

def r_exact_sentences(response: str, *, num_sentences: int, keep_last: int = 0) -> str | None:
    """Too many: keep the first N sentences (see ``r_number_sentences`` for ``keep_last``).
    Too few: None (needs new sentences)."""
    if T.count_sentences(response) < num_sentences:
        return None
    return r_number_sentences(response, num_sentences=num_sentences + 1, relation="less than", keep_last=keep_last)


_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def spell_number(n: int) -> str:
    """English words for 0 <= n < 1000 ("forty-two", "three hundred and five")."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else "-" + _ONES[n % 10])
    rest = n % 100
    return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " and " + spell_number(rest))


_NUMBER = re.compile(r"(?<![\d.,])\d{1,3}(?![\d.,]\d|\d)")


def r_no_digits(response: str) -> str | None:
    """Spell out whole numbers below 1000; None when other digits remain (years, decimals, codes)."""
    out = _NUMBER.sub(lambda m: spell_number(int(m.group())), response)
    return None if any(ch.isdigit() for ch in out) else out


def r_start_keyword(response: str, *, keyword: str) -> str | None:
    """Open with "<Keyword>, "."""
    return E.lead_with(response.strip(), keyword)


def r_end_keyword(response: str, *, keyword: str) -> str | None:
    """Close with "In a word: <keyword>."."""
    return E.append_sentence(response, f"In a word: {keyword}.")


def r_punctuation_count(response: str, *, mark: str, frequency: int, relation: str) -> str | None:
    """"less than": replace the last surplus marks with a neutral one ("!" and "?" by ".", ";"
    and ":" by ",", "-" by a space). "at least": only "!" (a sentence-final "." becomes "!");
    other marks would need rewording (None)."""
    n = response.count(mark)
    if relation == "less than":
        if frequency < 1 or mark not in _NEUTRAL:
            return None
        out = list(response)
        excess = n - frequency + 1
        for i in range(len(out) - 1, -1, -1):
            if excess <= 0:
                break
            if out[i] == mark:
                out[i] = _NEUTRAL[mark]
                excess -= 1
        return "".join(out)
    if mark != "!":
        return None
    spots = [m.start() for m in re.finditer(r"\.(?=\s|$)", response)][: frequency - n]
    if len(spots) < frequency - n:
        return None
    out = list(response)
    for i in spots:
        out[i] = "!"
    return "".join(out)


_NEUTRAL = {"!": ".", "?": ".", ";": ",", ":": ",", "-": " "}


def r_title_case(response: str) -> str | None:
    """Capitalise the first letter of every word."""
    return re.sub(r"\w+", lambda m: m.group()[:1].upper() + m.group()[1:] if m.group()[:1].isalpha() else m.group(), response)


def r_copy_span(response: str, *, n_start: int, n_end: int, prompt: str) -> str | None:
    """The span itself (the only correct answer)."""
    return prompt[n_start:n_end].strip() or None


# ---------------------------------------------------------------- samplers

def _s_copy(rng: random.Random) -> dict[str, Any]:
    start = rng.randint(0, 30)
    return {"n_start": start, "n_end": start + rng.randint(15, 60)}


def _mark_name(kw) -> dict[str, Any]:
    return {**kw, "mark_name": PUNCTUATION_MARKS.get(kw.get("mark"), kw.get("mark"))}


def _hard(*args, **kwargs) -> ConstraintType:
    """A further (non-IFEval) hard type; templates may name a punctuation mark as ``{mark_name}``."""
    return hard_type(*args, format_kwargs=_mark_name, **kwargs)


_nonneg = (lambda v: v >= 0, "must be >= 0")
_positive = (lambda v: v >= 1, "must be >= 1")
_word = (lambda v: bool(_SINGLE_WORD.match(v)), "must be a single word")

TYPES: tuple[ConstraintType, ...] = (
    _hard("count:exact_sentences", verify=v_exact_sentences, templates=(
        "Your answer must consist of exactly {num_sentences} sentences.",
        "Write precisely {num_sentences} sentences, no more and no fewer.",
        "Respond in exactly {num_sentences} sentences.",
    ), sample=lambda rng: {"num_sentences": rng.randint(1, 10)}, args={"num_sentences": int},
        validate=_validate(num_sentences=_positive), graded=g_exact_sentences,
        repair=r_exact_sentences, repair_rank=RANK_BUDGET, no_repair=NO_REPAIR_LENGTH + " (too few sentences only)"),
    _hard("words:no_digits", verify=v_no_digits, templates=(
        "Do not use any digits in your response; spell out every number.",
        "Your reply must not contain a single numeral (0-9); write numbers as words.",
        "Avoid digits entirely in your answer.",
    ), sample=lambda rng: {}, graded=g_no_digits, repair=r_no_digits,
        no_repair="numbers of 1000 or more, decimals and codes have no single spelled-out form"),
    _hard("words:start_keyword", verify=v_start_keyword, templates=(
        'Begin your response with the word "{keyword}".',
        'The very first word of your answer must be "{keyword}".',
        'Start your reply with "{keyword}".',
    ), sample=lambda rng: {"keyword": rng.choice(KEYWORDS)}, args={"keyword": str}, validate=_validate(keyword=_word),
        repair=r_start_keyword, repair_rank=RANK_PREFIX),
    _hard("words:end_keyword", verify=v_end_keyword, templates=(
        'End your response with the word "{keyword}".',
        'The last word of your answer must be "{keyword}".',
        'Make "{keyword}" the final word of your reply.',
    ), sample=lambda rng: {"keyword": rng.choice(KEYWORDS)}, args={"keyword": str}, validate=_validate(keyword=_word),
        repair=r_end_keyword, repair_rank=RANK_EDGE + 1),
    _hard("count:word_repetition", verify=v_word_repetition, templates=(
        "Do not use any word other than common function words more than {max_repeats} times.",
        "No content word may appear more than {max_repeats} times in your answer.",
        "Vary your vocabulary: apart from small words like 'the' or 'and', repeat no word more than {max_repeats} times.",
    ), sample=lambda rng: {"max_repeats": rng.randint(2, 5)}, args={"max_repeats": int}, validate=_validate(max_repeats=_positive),
        no_repair="fewer repeats need synonyms or rewording, not an edit"),
    _hard("count:punctuation", verify=v_punctuation_count, templates=(
        "Use {relation} {frequency} {mark_name} in your response.",
        "Your answer should contain {relation} {frequency} {mark_name}.",
        "Include {relation} {frequency} {mark_name} in what you write.",
    ), sample=lambda rng: {"mark": rng.choice(list(PUNCTUATION_MARKS)), "frequency": rng.randint(1, 5), "relation": rng.choice(RELATIONS)},
        args={"mark": str, "frequency": int, "relation": str},
        validate=_validate(mark=(lambda v: len(v) == 1, "must be one character"), frequency=_nonneg,
                           relation=(lambda v: v in RELATIONS, f"must be one of {RELATIONS}")),
        repair=r_punctuation_count, no_repair='"at least" for marks other than "!" needs rewording'),
    _hard("ratio:stop_words", verify=v_stop_words_ratio, templates=(
        "Keep common function words (the, and, of, ...) to at most {percentage}% of your words.",
        "No more than {percentage} percent of the words in your answer may be stop words like 'the', 'is' or 'and'.",
        "Write densely: stop words may make up at most {percentage}% of the response.",
    ), sample=lambda rng: {"percentage": rng.choice(range(30, 61, 5))}, args={"percentage": int},
        validate=_validate(percentage=(lambda v: 0 <= v <= 100, "must be in 0..100")), graded=g_stop_words_ratio,
        no_repair="fewer function words means rewriting the sentences"),
    _hard("format:title_case", verify=v_title_case, templates=(
        "Capitalize The First Letter Of Every Word in your response.",
        "Write your whole answer in title case: every word starts with a capital letter.",
        "Each word of your reply must begin with an uppercase letter.",
    ), sample=lambda rng: {}, graded=g_title_case, repair=r_title_case, repair_rank=RANK_CASE),
    _hard("copy:span_idx", verify=v_copy_span, templates=(
        "Copy the span of this request from character {n_start} to character {n_end} (0-based, end excluded) "
        "exactly, and output nothing else.",
        "Reply only with characters {n_start} to {n_end} of this request, copied verbatim (Python slice [{n_start}:{n_end}]).",
        "Output exactly the text found at positions {n_start}-{n_end} of the request (slice [{n_start}:{n_end}]), nothing more.",
    ), sample=_s_copy, args={"n_start": int, "n_end": int},
        validate=lambda kw: _span_ok(kw), needs_prompt=True, repair=r_copy_span),
)

def _span_ok(kw: dict[str, Any]) -> None:
    s, e = kw.get("n_start"), kw.get("n_end")
    if s is not None and e is not None and not 0 <= s < e:
        raise ConstraintError(f"kwargs need 0 <= n_start < n_end, got n_start={s}, n_end={e}")
