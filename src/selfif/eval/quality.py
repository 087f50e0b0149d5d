"""What the answers look like, beside whether they pass: the answer-quality report of an evaluation.

Why: a verdict-only reward pays for any surface that a checker accepts. A policy trained on it can
raise IFEval's pass rate while its answers get worse: shorter, wrapped in quotes nobody asked
for, repeating the instruction's own wording ("<<title>>", "*highlighted section*") instead of
doing the task. The verdicts cannot see this, so every evaluation also reports, per answer:

- :func:`loops`: the answer ends in a repetition loop (:mod:`selfif.repetition`);
- :func:`word_count`, and paired with a baseline :func:`length_ratio`;
- :func:`formats_shown`: which verifiable formats the answer shows, counted as *bleed* only on
  prompts that do not ask for that format (:func:`unasked`);
- :func:`copied_phrases`: the answer repeats constraint wording or its example placeholders;
- :func:`relevance`: cosine similarity of the answer and the task (the prompt without its
  constraint sentences, :func:`split_prompt`) under the packaged MiniLM sentence encoder.

:func:`assess` computes them for a set of answers and :func:`summary` is ``scores.json["quality"]``;
the paired differences against a baseline are :func:`selfif.eval.bootstrap.paired_quality`, with
the same resampling draws and interval entries as the verdict deltas.
Every metric reads only the prompt, its instruction ids and the answer, so it applies to any
evaluation directory and to prompts without constraints (a control set) alike.
"""

from __future__ import annotations

import functools
import logging
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from selfif.repetition import ends_in_loop

log = logging.getLogger(__name__)

ENCODER = "minilm-l6"  # the packaged all-MiniLM-L6-v2 (selfif.models.ALIASES)
ENCODER_MAX_TOKENS = 128  # the sequence length all-MiniLM-L6-v2 was trained at; also 2.5x faster than 256
ENCODER_BATCH = 64
COPY_N = 4  # word n-gram length that counts as copied wording
EXAMPLES = 5  # copying examples kept in scores.json


# ---------------------------------------------------------------- length and loops


def word_count(text: str) -> int:
    """Whitespace-separated words.

    Catches answers that shrank to a line (a policy that learned that short answers break fewer
    constraints). Misses whether the words say anything: a looping answer is long by this count.
    """
    return len(text.split())


def length_ratio(after: str, before: str) -> float:
    """``(words(after) + 1) / (words(before) + 1)`` for two answers to the same prompt.

    Catches a policy whose answers are a fraction of the baseline's on the same prompt, which a
    median over different prompts can hide. Misses whether either length was right for the
    prompt (a baseline that rambled to the token cap makes any concise answer look "short").
    The +1 keeps an empty answer finite.
    """
    return (word_count(after) + 1) / (word_count(before) + 1)


def loops(text: str) -> bool:
    """The answer ends in a repetition loop (:func:`selfif.repetition.ends_in_loop`).

    Catches greedy decoding that ran to the token cap repeating itself. Misses loops shorter
    than four 6-token windows and counts a genuinely repetitive table as a loop.
    """
    return ends_in_loop(text)


# ---------------------------------------------------------------- format bleed


def _verifies(type_id: str, **kwargs: Any) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        from selfif.constraints import registry

        return registry.verify(type_id, text, kwargs)

    return check


def _opens_quoted(text: str) -> bool:
    # The quotation verifier also wants the closing quote; an answer cut at the token cap (most
    # looping answers) never gets there, yet it is the same habit.
    return text.lstrip().startswith('"')


def _json_container(text: str) -> bool:
    # The json_format verifier accepts any JSON value, and a quoted sentence or a bare number is
    # one; bleed means an object or array the user did not ask for.
    from selfif.constraints.ifeval import v_json_format

    body = text.strip().removeprefix("```json").removeprefix("```JSON").removeprefix("```").lstrip()
    return body[:1] in ("{", "[") and v_json_format(text)


def _divider(text: str) -> bool:
    # number_paragraphs's own divider pattern splits the answer (a six-asterisk separator counts
    # too: it contains one).
    from selfif.constraints.ifeval import _PARAGRAPH_DIVIDER

    return len([p for p in _PARAGRAPH_DIVIDER.split(text) if p.strip()]) > 1


def _bullets(text: str) -> bool:
    from selfif.constraints.ifeval import count_bullets

    return count_bullets(text) > 0


@dataclass(frozen=True)
class Format:
    """A surface format the IFEval verifiers check: which instruction ids ask for it, and the
    detector (the type's own verifier where it answers "does the answer show it")."""

    name: str
    asked_by: tuple[str, ...]
    shows: Callable[[str], bool]


FORMATS: tuple[Format, ...] = (
    Format("quotation", ("startend:quotation",), _opens_quoted),
    Format("lowercase", ("change_case:english_lowercase",), _verifies("change_case:english_lowercase")),
    Format("capitals", ("change_case:english_capital",), _verifies("change_case:english_capital")),
    Format("title", ("detectable_format:title",), _verifies("detectable_format:title")),
    Format("postscript", ("detectable_content:postscript",), _verifies("detectable_content:postscript", postscript_marker="P.S.")),
    Format("divider", ("length_constraints:number_paragraphs",), _divider),
    Format("two_responses", ("combination:two_responses",), lambda t: "******" in t),
    Format("json", ("detectable_format:json_format",), _json_container),
    Format("bullets", ("detectable_format:number_bullet_lists",), _bullets),
    Format("highlights", ("detectable_format:number_highlighted_sections",),
           _verifies("detectable_format:number_highlighted_sections", num_highlights=1)),
    Format("placeholders", ("detectable_content:number_placeholders",),
           _verifies("detectable_content:number_placeholders", num_placeholders=1)),
)
FORMAT_NAMES = tuple(f.name for f in FORMATS)


def formats_shown(text: str) -> frozenset[str]:
    """The :data:`FORMATS` the answer shows.

    Catches a format habit the reward taught (quotes around everything, all lower case, a
    ``<<title>>`` on every answer) when it appears where nobody asked for it (see :func:`unasked`).
    Misses formats outside the verifiers' list, and cannot tell a habit from a format the task
    itself invites (a shopping list in bullets): compare against the baseline's share, not zero.
    Quotation counts an answer that opens with a double quote (the token cap may have cut the
    closing one); JSON counts an object or array only; postscript counts P.S. and P.P.S.
    """
    return frozenset(f.name for f in FORMATS if text.strip() and f.shows(text))


def unasked(instruction_ids: Sequence[str]) -> frozenset[str]:
    """The :data:`FORMATS` that a prompt with these instruction ids does not ask for."""
    ids = set(instruction_ids)
    return frozenset(f.name for f in FORMATS if not ids.intersection(f.asked_by))


# ---------------------------------------------------------------- the task and the constraint wording

_WORD = re.compile(r"\w+")
_FIELD = re.compile(r"\{[^{}]*\}")
_EXAMPLE = re.compile(r"<<[^<>\n]+>>|\*[^*\n]+\*")  # [placeholders] are left out: a letter uses [name] as asked
_QUOTED = re.compile(r"\"[^\"\n]+\"|“[^”\n]+”")
_DIGIT = re.compile(r"\d")


def _words(text: str) -> list[str]:
    return _WORD.findall(_DIGIT.sub("0", text.lower()))


def _grams(words: Sequence[str], n: int = COPY_N) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


@functools.lru_cache(maxsize=1)
def _template_wording() -> tuple[frozenset[tuple[str, ...]], frozenset[str], frozenset[tuple[str, ...]]]:
    """Word n-grams, example placeholders and word trigrams of every registered constraint template.

    Fields (``{num_words}``) break the n-grams, so a phrase is only what every rendering of the
    template shares. These are the project's own constraint texts, the wording a policy trained
    on them sees in every prompt.
    """
    from selfif.constraints import registry

    grams: set[tuple[str, ...]] = set()
    trigrams: set[tuple[str, ...]] = set()
    examples: set[str] = set()
    for t in registry.all_types():
        for template in t.templates:
            for piece in _FIELD.split(template):
                grams |= _grams(_words(piece))
                trigrams |= _grams(_words(piece), 3)
            examples |= {m.lower() for m in _EXAMPLE.findall(_FIELD.sub(" ", template))}
    return frozenset(grams), frozenset(examples), frozenset(trigrams)


@functools.lru_cache(maxsize=4096)
def _type_grams(type_id: str) -> frozenset[tuple[str, ...]]:
    from selfif.constraints import registry
    from selfif.constraints.base import ConstraintError

    try:
        templates = registry.get(type_id).templates
    except ConstraintError:
        return frozenset()
    return frozenset(g for tpl in templates for piece in _FIELD.split(tpl) for g in _grams(_words(piece), 3))


@functools.lru_cache(maxsize=8192)
def split_prompt(prompt: str, instruction_ids: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """(task, constraint sentences): the prompt's Punkt sentences, a sentence being a constraint
    when it shares a word trigram with a template of one of the prompt's own instruction types.

    Catches the common phrasings ("Your response should contain 3 paragraphs", "Highlight at
    least 3 sections with markdown, i.e. *highlighted section*"). Misses a constraint worded
    unlike every template of its type (it stays in the task), and removes a whole sentence that
    mixes task and constraint. A prompt without instruction ids is all task.
    """
    from selfif.constraints.text import sentences

    grams = frozenset().union(*(_type_grams(i) for i in instruction_ids)) if instruction_ids else frozenset()
    task, constraint = [], []
    is_constraint = False
    for s in sentences(prompt) or (prompt,):
        if len(_words(s)) >= 4:  # a fragment ("<<title>>." after "i.e.") goes with the sentence before it
            is_constraint = bool(grams and _grams(_words(s), 3) & grams)
        (constraint if is_constraint else task).append(s)
    return " ".join(task).strip() or prompt, tuple(constraint)


def copied_phrases(answer: str, prompt: str, instruction_ids: Sequence[str]) -> tuple[str, ...]:
    """Constraint wording the answer repeats: :data:`COPY_N`-word phrases of any registered
    constraint template or of the prompt's constraint sentences (those sharing three words with a
    template, so a task clause inside a constraint sentence does not count), and their example
    placeholders (``<<title>>``, ``*highlighted section*``; not ``[address]``-style ones, which
    a letter uses as asked).

    Phrases that also occur in the prompt's task, or inside double quotes in the prompt (text the
    prompt asks to be used verbatim: keywords, an end phrase) or in the fixed answer options of
    ``constrained_response``, are not counted. Catches the policy writing "Your response should
    have 3 paragraphs" or "<<title>>" into its answer. Misses paraphrased instructions and
    copying of the task itself; a template phrase that is also ordinary English ("at the end of")
    counts when an answer happens to use it, hence a comparison with the baseline, not with zero.
    """
    if not answer.strip():
        return ()
    from selfif.constraints.ifeval import CONSTRAINED_OPTIONS

    task, constraint = split_prompt(prompt, tuple(instruction_ids))
    template_grams, template_examples, template_trigrams = _template_wording()
    allowed_text = " ".join([task, *_QUOTED.findall(prompt), *(CONSTRAINED_OPTIONS if instruction_ids else ())])
    allowed = _grams(_words(allowed_text))
    own = {g for s in constraint for g in _grams(_words(s)) if g[:3] in template_trigrams or g[1:] in template_trigrams}
    phrases = (template_grams | own) - allowed
    examples = (template_examples | {m.lower() for s in constraint for m in _EXAMPLE.findall(s)}) - set(_EXAMPLE.findall(allowed_text.lower()))
    words = _words(answer)
    found = {" ".join(words[i:i + COPY_N]) for i in range(len(words) - COPY_N + 1) if tuple(words[i:i + COPY_N]) in phrases}
    low = answer.lower()
    found |= {e for e in examples if e in low}
    return tuple(sorted(found))


# ---------------------------------------------------------------- relevance


class _Encoder:
    """The packaged MiniLM sentence encoder (mean pooling, unit length, as sentence-transformers
    configures all-MiniLM-L6-v2), with embeddings memoised by text: a pipeline scores the same
    answers for eval-after, its comparison and the run report."""

    def __init__(self) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        from selfif.models import resolve

        path = resolve(ENCODER)
        self.tok = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
        self.torch = torch
        self.cache: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        todo = sorted({t for t in texts if t not in self.cache}, key=len)  # similar lengths batch with little padding
        torch = self.torch
        with torch.inference_mode():
            for i in range(0, len(todo), ENCODER_BATCH):
                batch = todo[i:i + ENCODER_BATCH]
                enc = self.tok(batch, padding=True, truncation=True, max_length=ENCODER_MAX_TOKENS, return_tensors="pt")
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, dim=-1).numpy()
                self.cache.update(zip(batch, pooled))
        if len(self.cache) > 50_000:
            keep = set(texts)
            self.cache = {k: v for k, v in self.cache.items() if k in keep}
        return np.stack([self.cache[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)


@functools.lru_cache(maxsize=1)
def encoder() -> _Encoder:
    """The encoder, loaded once per process."""
    return _Encoder()


def relevance(answers: Sequence[str], tasks: Sequence[str]) -> list[float]:
    """Cosine similarity of each answer with its task under MiniLM (first 128 word pieces of each).

    Catches an answer about something else: the instruction's wording, an unrelated template,
    a loop of filler. Misses whether the answer is correct or good; an answer that restates the
    task without doing it scores high. Compare against the baseline's answers, not an absolute bar.
    """
    if len(answers) != len(tasks):
        raise ValueError(f"{len(answers)} answers for {len(tasks)} tasks")
    enc = encoder()
    a, t = enc.encode(list(answers)), enc.encode(list(tasks))
    sims = (a * t).sum(axis=1)
    return [0.0 if not ans.strip() else round(float(s), 6) for ans, s in zip(answers, sims)]


# ---------------------------------------------------------------- per answer, summary, comparison


@dataclass(frozen=True)
class AnswerQuality:
    """Every metric of one answer (``relevance`` is None when the encoder is not installed)."""

    words: int
    loop: bool
    formats: frozenset[str]
    unasked: frozenset[str]
    constrained: bool  # the prompt has instruction ids (copying is counted over these)
    copied: tuple[str, ...]
    relevance: float | None


def assess(prompts: Sequence[str], instruction_ids: Sequence[Sequence[str]], answers: Sequence[str], *,
           with_relevance: bool = True) -> list[AnswerQuality]:
    """The metrics of each answer (lists aligned by index)."""
    if not len(prompts) == len(instruction_ids) == len(answers):
        raise ValueError("prompts, instruction_ids and answers must have the same length")
    rel: list[float | None] = [None] * len(answers)
    if with_relevance and answers:
        from selfif.models import ModelNotAvailable

        try:
            rel = list(relevance(answers, [split_prompt(p, tuple(ids))[0] for p, ids in zip(prompts, instruction_ids)]))
        except ModelNotAvailable as e:
            log.warning("answer relevance not computed: %s", e)
    return [AnswerQuality(word_count(a), loops(a), formats_shown(a), unasked(ids), bool(ids),
                          copied_phrases(a, p, ids), r)
            for p, ids, a, r in zip(prompts, instruction_ids, answers, rel)]


DEFINITIONS = {
    "words": "whitespace-separated words of the answer",
    "looping": "the answer ends in a repetition loop (selfif.repetition)",
    "bleed": "share of the answers showing a verifiable format among the prompts that do not ask for it",
    "copying": f"share of answers (to prompts with constraints) repeating {COPY_N}-word constraint wording or an "
               "example placeholder that the prompt's task does not contain",
    "relevance": f"cosine similarity of answer and task (prompt minus its constraint sentences), {ENCODER}, "
                 f"first {ENCODER_MAX_TOKENS} word pieces",
}


def _share(k: int, n: int) -> float | None:
    return k / n if n else None


def summary(items: Sequence[AnswerQuality], prompts: Sequence[str] | None = None) -> dict[str, Any]:
    """``scores.json["quality"]``: medians, counts and shares over the answers (``prompts``,
    aligned with ``items``, names the copying examples)."""
    n = len(items)
    words = [q.words for q in items]
    bleed = {}
    for f in FORMAT_NAMES:
        group = [q for q in items if f in q.unasked]
        shown = sum(f in q.formats for q in group)
        bleed[f] = {"unasked": len(group), "shown": shown, "share": _share(shown, len(group))}
    constrained = [i for i, q in enumerate(items) if q.constrained]
    copying = [i for i in constrained if items[i].copied]
    rel = [q.relevance for q in items if q.relevance is not None]
    return {
        "answers": n,
        "words": {"median": statistics.median(words) if words else None, "mean": statistics.fmean(words) if words else None},
        "looping": {"looping": sum(q.loop for q in items), "share": _share(sum(q.loop for q in items), n)},
        "bleed": bleed,
        "copying": {"prompts": len(constrained), "copying": len(copying), "share": _share(len(copying), len(constrained)),
                    "examples": [{"prompt": (prompts[i][:100] if prompts else None), "phrases": list(items[i].copied[:5])}
                                 for i in copying[:EXAMPLES]]},
        "relevance": ({"mean": round(statistics.fmean(rel), 6), "median": round(statistics.median(rel), 6), "encoder": ENCODER}
                      if rel and len(rel) == n else None),
        "definitions": DEFINITIONS,
    }


def assess_rows(rows: Sequence[Any], answers: Sequence[str], **kw: Any) -> list[AnswerQuality]:
    """:func:`assess` for objects with ``prompt`` and ``instruction_id_list`` (benchmark rows)."""
    return assess([r.prompt for r in rows], [tuple(r.instruction_id_list) for r in rows], answers, **kw)

