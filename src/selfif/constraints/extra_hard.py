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

from selfif.constraints import text as T
from selfif.constraints.base import ConstraintError, ConstraintType, hard_type
from selfif.constraints.ifeval import KEYWORDS, RELATIONS

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


def _compare(value: int, relation: str, threshold: int) -> bool:
    return value < threshold if relation == "less than" else value >= threshold


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
    return _compare(response.count(mark), relation, frequency)


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
    _hard("count:exact_sentences", v_exact_sentences, (
        "Your answer must consist of exactly {num_sentences} sentences.",
        "Write precisely {num_sentences} sentences, no more and no fewer.",
        "Respond in exactly {num_sentences} sentences.",
    ), lambda rng: {"num_sentences": rng.randint(1, 10)}, {"num_sentences": int},
        _validate(num_sentences=_positive), g_exact_sentences),
    _hard("words:no_digits", v_no_digits, (
        "Do not use any digits in your response; spell out every number.",
        "Your reply must not contain a single numeral (0-9); write numbers as words.",
        "Avoid digits entirely in your answer.",
    ), lambda rng: {}, graded=g_no_digits),
    _hard("words:start_keyword", v_start_keyword, (
        'Begin your response with the word "{keyword}".',
        'The very first word of your answer must be "{keyword}".',
        'Start your reply with "{keyword}".',
    ), lambda rng: {"keyword": rng.choice(KEYWORDS)}, {"keyword": str}, _validate(keyword=_word)),
    _hard("words:end_keyword", v_end_keyword, (
        'End your response with the word "{keyword}".',
        'The last word of your answer must be "{keyword}".',
        'Make "{keyword}" the final word of your reply.',
    ), lambda rng: {"keyword": rng.choice(KEYWORDS)}, {"keyword": str}, _validate(keyword=_word)),
    _hard("count:word_repetition", v_word_repetition, (
        "Do not use any word other than common function words more than {max_repeats} times.",
        "No content word may appear more than {max_repeats} times in your answer.",
        "Vary your vocabulary: apart from small words like 'the' or 'and', repeat no word more than {max_repeats} times.",
    ), lambda rng: {"max_repeats": rng.randint(2, 5)}, {"max_repeats": int}, _validate(max_repeats=_positive)),
    _hard("count:punctuation", v_punctuation_count, (
        "Use {relation} {frequency} {mark_name} in your response.",
        "Your answer should contain {relation} {frequency} {mark_name}.",
        "Include {relation} {frequency} {mark_name} in what you write.",
    ), lambda rng: {"mark": rng.choice(list(PUNCTUATION_MARKS)), "frequency": rng.randint(1, 5), "relation": rng.choice(RELATIONS)},
        {"mark": str, "frequency": int, "relation": str},
        _validate(mark=(lambda v: len(v) == 1, "must be one character"), frequency=_nonneg,
                  relation=(lambda v: v in RELATIONS, f"must be one of {RELATIONS}"))),
    _hard("ratio:stop_words", v_stop_words_ratio, (
        "Keep common function words (the, and, of, ...) to at most {percentage}% of your words.",
        "No more than {percentage} percent of the words in your answer may be stop words like 'the', 'is' or 'and'.",
        "Write densely: stop words may make up at most {percentage}% of the response.",
    ), lambda rng: {"percentage": rng.choice(range(30, 61, 5))}, {"percentage": int},
        _validate(percentage=(lambda v: 0 <= v <= 100, "must be in 0..100")), g_stop_words_ratio),
    _hard("format:title_case", v_title_case, (
        "Capitalize The First Letter Of Every Word in your response.",
        "Write your whole answer in title case: every word starts with a capital letter.",
        "Each word of your reply must begin with an uppercase letter.",
    ), lambda rng: {}, graded=g_title_case),
    _hard("copy:span_idx", v_copy_span, (
        "Copy the span of this request from character {n_start} to character {n_end} (0-based, end excluded) "
        "exactly, and output nothing else.",
        "Reply only with characters {n_start} to {n_end} of this request, copied verbatim (Python slice [{n_start}:{n_end}]).",
        "Output exactly the text found at positions {n_start}-{n_end} of the request (slice [{n_start}:{n_end}]), nothing more.",
    ), _s_copy, {"n_start": int, "n_end": int},
        lambda kw: _span_ok(kw), extra={"needs_prompt": True}),
)


def _span_ok(kw: dict[str, Any]) -> None:
    s, e = kw.get("n_start"), kw.get("n_end")
    if s is not None and e is not None and not 0 <= s < e:
        raise ConstraintError(f"kwargs need 0 <= n_start < n_end, got n_start={s}, n_end={e}")
