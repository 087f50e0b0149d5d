"""Which constraint types cannot co-occur in one instruction.

Synthesis draws several constraints per seed; if two of them contradict (all lowercase *and* all
capitals, a JSON-only answer *and* two responses separated by asterisks), no response can satisfy
both, the pseudo-label "L_k response follows c_k" becomes false by construction, and RL rewards
become unreachable. The table is written as groups (any two members conflict), explicit pairs,
and a few exclusive types that combine with nothing. :func:`conflicting` is symmetric and every
type conflicts with itself (the same type twice is redundant or contradictory).
"""

from __future__ import annotations

import itertools

_GROUPS: tuple[frozenset[str], ...] = tuple(
    frozenset(g)
    for g in (
        # letter case
        {"change_case:english_lowercase", "change_case:english_capital", "change_case:capital_word_frequency"},
        {"change_case:english_lowercase", "format:title_case"},
        # layout: one overall shape per answer
        {
            "detectable_format:json_format",
            "combination:two_responses",
            "detectable_format:multiple_sections",
            "length_constraints:number_paragraphs",
            "length_constraints:nth_paragraph_first_word",
            "soft:fundamental_format",
        },
        {"soft:fundamental_format", "soft:bespoke_format", "soft:specialized_format", "soft:form_and_style"},
        # what the response starts with
        {"combination:repeat_prompt", "words:start_keyword", "startend:quotation", "length_constraints:nth_paragraph_first_word"},
        # what the response ends with
        {"startend:end_checker", "detectable_content:postscript", "words:end_keyword"},
        # the same quantity measured twice
        {"length_constraints:number_sentences", "count:exact_sentences", "soft:sentence_count"},
        {"length_constraints:number_words", "soft:word_count"},
        {"length_constraints:number_paragraphs", "length_constraints:nth_paragraph_first_word", "soft:paragraph_count"},
        {"combination:two_responses", "soft:document_count"},
    )
)

# A JSON-only answer leaves no room for any other visible structure or wording at its edges.
_JSON_CONFLICTS = (
    "detectable_format:title",
    "detectable_format:number_bullet_lists",
    "detectable_format:number_highlighted_sections",
    "detectable_content:postscript",
    "startend:end_checker",
    "startend:quotation",
    "combination:repeat_prompt",
    "words:start_keyword",
    "words:end_keyword",
    "format:title_case",
    "punctuation:no_comma",
    "soft:bespoke_format",
    "soft:specialized_format",
    "soft:form_and_style",
    "soft:document_count",
    "soft:paragraph_count",
)

# Other English-bound constraints cannot hold when the whole answer must be in another language.
_LANGUAGE_CONFLICTS = (
    "change_case:english_capital",
    "change_case:english_lowercase",
    "change_case:capital_word_frequency",
    "keywords:existence",
    "keywords:frequency",
    "keywords:forbidden_words",
    "keywords:letter_frequency",
    "startend:end_checker",
    "detectable_format:multiple_sections",
    "words:start_keyword",
    "words:end_keyword",
    "ratio:stop_words",
    "format:title_case",
    "soft:pragmatic",
    "soft:lexical_content",
    "soft:authorial_style",
    "soft:phonological",
    "soft:morphological",
)

_PAIRS: tuple[tuple[str, str], ...] = (
    ("detectable_format:title", "startend:quotation"),
    ("combination:two_responses", "detectable_format:number_bullet_lists"),
    # an exact bullet count and an exact paragraph count both fix the answer's whole shape
    ("detectable_format:number_bullet_lists", "length_constraints:number_paragraphs"),
    ("detectable_format:number_bullet_lists", "length_constraints:nth_paragraph_first_word"),
    ("combination:two_responses", "startend:end_checker"),
    ("combination:two_responses", "detectable_content:postscript"),
    ("combination:two_responses", "startend:quotation"),
    ("combination:two_responses", "combination:repeat_prompt"),
    ("combination:two_responses", "count:exact_sentences"),
    ("combination:repeat_prompt", "language:response_language"),
    ("combination:repeat_prompt", "count:exact_sentences"),
    ("words:no_digits", "detectable_format:multiple_sections"),  # "Section 1" needs a digit
    # section marks are matched case-sensitively and every splitter is capitalised ("Part 1")
    ("change_case:english_lowercase", "detectable_format:multiple_sections"),
    ("change_case:english_capital", "detectable_format:multiple_sections"),
    ("punctuation:no_comma", "soft:fundamental_format"),  # CSV and JSON need commas
    *(("detectable_format:json_format", other) for other in _JSON_CONFLICTS),
    *(("language:response_language", other) for other in _LANGUAGE_CONFLICTS),
)

# Types whose instruction excludes any other requirement ("answer only with ...").
EXCLUSIVE: frozenset[str] = frozenset({"detectable_format:constrained_response", "copy:span_idx"})


def _build() -> frozenset[frozenset[str]]:
    pairs: set[frozenset[str]] = set()
    for group in _GROUPS:
        pairs.update(frozenset(p) for p in itertools.combinations(sorted(group), 2))
    pairs.update(frozenset(p) for p in _PAIRS)
    return frozenset(pairs)


CONFLICT_PAIRS: frozenset[frozenset[str]] = _build()


def conflicting(id_a: str, id_b: str) -> bool:
    """True when ``id_a`` and ``id_b`` cannot be asked for together (symmetric)."""
    if id_a == id_b or id_a in EXCLUSIVE or id_b in EXCLUSIVE:
        return True
    return frozenset((id_a, id_b)) in CONFLICT_PAIRS


def referenced_ids() -> frozenset[str]:
    """Every id the table names (tests check they all exist in the registry)."""
    ids = set(EXCLUSIVE)
    for p in CONFLICT_PAIRS:
        ids.update(p)
    return frozenset(ids)
