"""Seed filters: language, length, code, pre-existing format constraints, near-duplicates, contamination.

Why each exists:
- *Formatting constraints already in the seed* would collide with the constraints we add (a seed
  asking for "bullet points" plus a synthesised "no bullet points" is contradictory), and they
  would make the level-0 response a bad negative for pseudo-labelling.
- *Code* seeds produce code answers where most of IFEval's checks are meaningless.
- *Near-duplicates* waste the small seed budget (ShareGPT repeats popular prompts).
- *Decontamination* keeps benchmark prompts (IFEval) out of training data, so evaluation stays fair.

Near-duplicate detection is an exact word-shingle Jaccard similarity join made fast with
prefix filtering (two sets with Jaccard >= t must share one of the rarest
``|s| - ceil(t*|s|) + 1`` shingles of each), so no random hashing and no extra dependency.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"[a-z0-9]+")

CODE_PATTERNS = re.compile(
    r"```|`[^`\n]+`|#include\s*<|\bdef \w+\(|\bfunction\s*\w*\s*\(|\bconsole\.log\(|\bimport \w+(\.\w+)*;?\s*$"
    r"|\bpublic (static )?(void|class)\b|\bSELECT\b.+\bFROM\b|</?[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?>|=>|\w+\(\)\s*[;{]"
    r"|^\s*(for|while|if)\s*\(.*\)\s*\{|[{};]\s*$|\$\w+\s*=|\w+\s*==\s*\w+",
    re.MULTILINE,
)
# Requests for code (answers would be code, where format constraints make little sense).
CODE_REQUEST = re.compile(
    r"\b(code|coding|python|javascript|typescript|java|c\+\+|c#|sql|mysql|postgres\w*|html|css|regex|api|sdk|function|"
    r"react|next\.?js|node\.?js|django|flask|bash|powershell|golang|rust|php|kotlin|swift|yaml|xml|dockerfile|kubernetes|"
    r"unity|tailwind|excel formula|vba|matlab|compile|debug)\b",
    re.IGNORECASE,
)

# Phrases that already ask for a format / length / casing / punctuation (IFEval-like constraints).
FORMAT_PATTERNS = re.compile(
    r"\b(in|within|under|at least|at most|less than|fewer than|more than|no more than|maximum of|minimum of|exactly|about|around|approximately)"
    r"\s+(\d+|one|two|three|four|five|six|seven|eight|nine|ten|twenty|fifty|hundred)[-\s]+(words?|sentences?|paragraphs?|lines?|characters?|bullet|points?|items?|sections?)\b"
    r"|\b\d+\s*(words?|sentences?|paragraphs?|bullet points?|characters?)\b"
    r"|\bbullet(ed)?[- ]?(points?|list)?\b|\bjson\b|\bmarkdown\b|\ball (caps|capitals?|capital letters|lower ?case|upper ?case)\b"
    r"|\b(lower|upper)case\b|\bcapital letters\b|\bcommas?\b|\bp\.\s?s\.|\bpostscript\b|\bdouble quot|\bquotation marks\b"
    r"|\bplaceholders?\b|\bhighlight(ed)?\b|\btitle\b|\bnumbered list\b|\btable format\b|\bin a table\b|\bone word\b"
    r"|\bend (your|the) (response|answer|reply) with\b|\bstart (your|the) (response|answer|reply) with\b|\bformat(ted)? as\b"
    r"|\brespond (only )?in\b|\banswer in\b|\bwrite in\b|\bparagraphs?\b|\bsections?\b|\bkeywords?\b",
    re.IGNORECASE,
)


def has_code(text: str) -> bool:
    """Code in the text, or a request whose answer would be code."""
    return bool(CODE_PATTERNS.search(text) or CODE_REQUEST.search(text))


def has_format_constraint(text: str) -> bool:
    return bool(FORMAT_PATTERNS.search(text))


def words(text: str) -> list[str]:
    """Lower-cased alphanumeric tokens (punctuation and case do not make prompts different)."""
    return _WORD.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    """Word n-grams; a text shorter than ``n`` words is one n-gram of its full length."""
    if not tokens:
        return set()
    if len(tokens) < n:
        return {tuple(tokens)}
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


_detector_seeded = False


def is_english(text: str, seed: int = 0) -> bool:
    """langdetect's top language is English (seeded, so the decision is reproducible)."""
    global _detector_seeded
    from langdetect import DetectorFactory, detect
    from langdetect.lang_detect_exception import LangDetectException

    if not _detector_seeded or DetectorFactory.seed != seed:
        DetectorFactory.seed = seed
        _detector_seeded = True
    try:
        return detect(text) == "en"
    except LangDetectException:  # no letters at all
        return False


class Contamination:
    """Benchmark n-gram index: a seed is contaminated when a large share of its n-grams occur in it.

    Seeds shorter than ``n`` words are compared as one full-length n-gram against every window of
    that length in the benchmark (built lazily per length).
    """

    def __init__(self, benchmark_texts: Iterable[str], n: int = 8, threshold: float = 0.5):
        self.n, self.threshold = n, threshold
        self._tokens = [words(t) for t in benchmark_texts]
        self._index: dict[int, set[tuple[str, ...]]] = {}

    def _grams(self, n: int) -> set[tuple[str, ...]]:
        if n not in self._index:
            out: set[tuple[str, ...]] = set()
            for toks in self._tokens:
                out.update(tuple(toks[i : i + n]) for i in range(len(toks) - n + 1))
            self._index[n] = out
        return self._index[n]

    def overlap(self, text: str) -> float:
        toks = words(text)
        if not toks:
            return 0.0
        n = min(self.n, len(toks))
        grams = ngrams(toks, n)
        index = self._grams(n)
        return sum(g in index for g in grams) / len(grams)

    def __call__(self, text: str) -> bool:
        return self.overlap(text) >= self.threshold


def near_duplicates(texts: Sequence[str], threshold: float = 0.7, n: int = 3) -> set[int]:
    """Indices to drop so that no two kept texts have word ``n``-gram Jaccard >= ``threshold``.

    The earlier text of a duplicate pair is kept. Exact (no sampling) via prefix filtering.
    """
    sets = [ngrams(words(t), n) for t in texts]
    freq = Counter(g for s in sets for g in s)
    # Global order: rarest shingles first, ties broken by the shingle itself (deterministic).
    ordered = [sorted(s, key=lambda g: (freq[g], g)) for s in sets]
    index: dict[tuple[str, ...], list[int]] = defaultdict(list)
    dropped: set[int] = set()
    for i, toks in enumerate(ordered):
        if not toks:
            continue
        prefix = len(toks) - math.ceil(threshold * len(toks)) + 1
        candidates: set[int] = set()
        for g in toks[:prefix]:
            candidates.update(index[g])
        s = sets[i]
        dup = False
        for j in candidates:
            inter = len(s & sets[j])
            if inter / (len(s) + len(sets[j]) - inter) >= threshold:
                dup = True
                break
        if dup:
            dropped.add(i)
            continue
        for g in toks[:prefix]:
            index[g].append(i)
    return dropped
