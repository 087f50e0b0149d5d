"""Text edits shared by the repairs (:mod:`.ifeval`, :mod:`.extra_hard`).

A repair turns the policy's own response into one that follows a constraint, and the policy
learns whatever the repairs show it; so these edits keep the response's own words and only move,
drop or mark them: split it into its paragraphs or sentences and regroup them, drop whole
sentences, wrap or prefix it. None of them invents content beyond a short connective phrase.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from selfif.constraints import text as T

_BLOCK_SPLIT = re.compile(r"\n\s*\n")
_BULLET_MARK = re.compile(r"^\s*(?:[*\-+•]|\d{1,3}[.)])\s+")


def blocks(text: str) -> list[str]:
    """Non-blank paragraphs (runs of text between blank lines), stripped."""
    return [b.strip() for b in _BLOCK_SPLIT.split(text) if b.strip()]


def sentences_of(text: str) -> list[str]:
    """Punkt sentences of each paragraph, in order, each on one line (inner newlines become spaces)."""
    out: list[str] = []
    for block in blocks(text):
        out.extend(" ".join(s.split()) for s in T.sentences(block) if s.strip())
    return out


def lines_of(text: str) -> list[str]:
    """Non-blank lines with any list marker (``*``, ``-``, ``1.``) removed."""
    out = []
    for line in text.split("\n"):
        s = _BULLET_MARK.sub("", line).strip()
        if s:
            out.append(s)
    return out


def is_list_item(line: str) -> bool:
    """Whether the line is a bullet or numbered list item."""
    return _BULLET_MARK.match(line) is not None


def group(units: list[str], n: int, joiner: str = " ") -> list[str] | None:
    """``units`` in ``n`` contiguous, near-equal groups (earlier groups take the remainder);
    ``None`` when there are fewer units than groups."""
    if n < 1 or len(units) < n:
        return None
    size, extra = divmod(len(units), n)
    out, i = [], 0
    for g in range(n):
        k = size + (1 if g < extra else 0)
        out.append(joiner.join(units[i : i + k]))
        i += k
    return out


def regroup(text: str, n: int, block_joiner: str = "\n") -> list[str] | None:
    """``text`` in ``n`` contiguous parts: its paragraphs when there are enough (joined by
    ``block_joiner`` within a part), else its sentences (joined by a space), else its lines;
    ``None`` when even those are fewer than ``n``."""
    for parts, joiner in ((blocks(text), block_joiner), (sentences_of(text), " "), (lines_of(text), "\n")):
        if len(parts) >= n:
            return group(parts, n, joiner)
    return None


def drop_sentences(text: str, hit: Callable[[str], bool], keep: int = 0) -> str | None:
    """``text`` without the sentences for which ``hit`` is true, keeping the first ``keep`` hits.

    Works line by line so lists and paragraph breaks survive; ``None`` when nothing would remain.
    """
    seen = 0
    lines_out = []
    for line in text.split("\n"):
        if not line.strip():
            lines_out.append(line)
            continue
        kept = []
        for s in T.sentences(line):
            if hit(s):
                seen += 1
                if seen > keep:
                    continue
            kept.append(s)
        if kept:
            lines_out.append(" ".join(kept))
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(lines_out)).strip()
    return out or None


def title_words(text: str, n: int = 6) -> str:
    """Up to ``n`` opening words of the first sentence that is not a pleasantry ("Sure, here
    is ..."), without markdown marks or a dangling function word, first letter capitalised."""
    candidates = sentences_of(text)[:3] or [text]
    chosen = next((s for s in candidates if _words(s)[:1] and _words(s)[0].lower() not in _PLEASANTRIES), candidates[0])
    words = _words(chosen)[:n]
    while len(words) > 1 and words[-1].lower() in _DANGLING:
        words.pop()
    title = " ".join(words)
    return title[:1].upper() + title[1:]


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_][\w'\-]*", text)


_PLEASANTRIES = frozenset("sure certainly absolutely okay ok of here hello hi great yes".split())
_DANGLING = frozenset("a an the and or but of to in on at for with from by as is are was were that which".split())


def append_sentence(text: str, sentence: str) -> str:
    """``sentence`` after the last line of ``text`` (one space apart)."""
    return text.rstrip() + " " + sentence


def first_sentences(text: str, n: int | None, fits: Callable[[str], bool] | None = None, keep_last: int = 0) -> str | None:
    """The text cut after its ``n``-th sentence, or after the last sentence for which the result
    still ``fits``; formatting inside the kept text is unchanged. The last ``keep_last`` sentences
    are kept as well (what a chain's earlier repairs appended: a closing phrase, a postscript) and
    count towards ``n``. ``None`` if nothing would be left."""
    spans = list(T.sentence_spans(text))
    tail_spans = spans[len(spans) - keep_last :] if 0 < keep_last < len(spans) else []
    head = spans[: len(spans) - len(tail_spans)]
    if n is not None:
        head = head[: max(0, n - len(tail_spans))]
    tail = text[tail_spans[0][0] :].strip() if tail_spans else ""
    best = None
    for _, end in head:
        cut = text[:end].strip()
        if tail:
            gap = text[end : tail_spans[0][0]]
            cut += ("\n\n" if "\n\n" in gap else " ") + tail
        if fits is not None and not fits(cut):
            break
        best = cut
    return best or None


def lead_with(paragraph: str, word: str) -> str:
    """``paragraph`` opened by ``"<Word>, "``; a leading common word is lower-cased after it."""
    head = word[:1].upper() + word[1:]
    first = paragraph.split(maxsplit=1)[0] if paragraph.split() else ""
    rest = paragraph
    if first[:1].isupper() and first.lower().strip(".,;:!?") in _LOWER_AFTER_LEAD:
        rest = paragraph[:1].lower() + paragraph[1:]
    return f"{head}, {rest}"


_LOWER_AFTER_LEAD = frozenset(
    "a an the this that these those it its there here in on at for to of by with as when while if "
    "we you they he she our your their my some many most all each every one".split()
)
_ALPHA_WORD = re.compile(r"(?<![\w'])[A-Za-z]+(?![\w'])")


def recase_words(text: str, count: int, pick: Callable[[str], bool], fn: Callable[[str], str], longest: bool = False) -> str | None:
    """Apply ``fn`` to ``count`` plain words for which ``pick`` holds (the longest ones, or the
    first ones); ``None`` when fewer qualify."""
    if count <= 0:
        return text
    spots = [m for m in _ALPHA_WORD.finditer(text) if pick(m.group())]
    if len(spots) < count:
        return None
    if longest:
        spots = sorted(spots, key=lambda m: (-len(m.group()), m.start()))
    chosen = sorted(spots[:count], key=lambda m: m.start(), reverse=True)
    out = text
    for m in chosen:
        out = out[: m.start()] + fn(m.group()) + out[m.end() :]
    return out
