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

Layout: one type is one place. Each module below holds one IFEval group (``keywords``,
``language``, ``length`` (``length_constraints:*``), ``detectable_content``,
``detectable_format``, ``combination``, ``startend``, ``change_case``, ``punctuation``), and in it
each type is one contiguous block: its sampler, verifier (official semantics; ``loose`` is applied
by the registry), graded score, repair (or the ``no_repair`` reason), then its ``_t(...)`` entry
with args, templates and checks. A repair takes the policy's response plus the verifier's kwargs
and returns a minimally edited response, or ``None`` where no honest edit exists; the registry
only calls it on a non-blank response that fails, and keeps the result only if the strict
verifier accepts it. :mod:`.common` holds what the groups share (value pools, kwarg checks,
:func:`regex_hazard`, template formatting). :data:`TYPES` lists the types in IFEval's order,
which is the registry's registration order. Every name other modules use is importable from here.
"""

from __future__ import annotations

from selfif.constraints.base import ConstraintType
from selfif.constraints.ifeval import (
    change_case,
    combination,
    detectable_content,
    detectable_format,
    keywords,
    language,
    length,
    punctuation,
    startend,
)
from selfif.constraints.ifeval.change_case import (
    count_capital_words,
    g_english_capital,
    g_english_lowercase,
    r_capital_word_frequency,
    r_english_capital,
    r_english_lowercase,
    v_capital_word_frequency,
    v_english_capital,
    v_english_lowercase,
)
from selfif.constraints.ifeval.combination import r_repeat_prompt, r_two_responses, v_repeat_prompt, v_two_responses
from selfif.constraints.ifeval.common import KEYWORDS, LANGUAGES, RELATIONS, regex_hazard
from selfif.constraints.ifeval.detectable_content import (
    POSTSCRIPT_MARKERS,
    count_placeholders,
    r_number_placeholders,
    r_postscript,
    v_number_placeholders,
    v_postscript,
)
from selfif.constraints.ifeval.detectable_format import (
    CONSTRAINED_OPTIONS,
    SECTION_SPLITTERS,
    count_bullets,
    count_highlights,
    g_title,
    has_title,
    r_constrained_response,
    r_json_format,
    r_multiple_sections,
    r_number_bullet_lists,
    r_number_highlighted_sections,
    r_title,
    v_constrained_response,
    v_json_format,
    v_multiple_sections,
    v_number_bullet_lists,
    v_number_highlighted_sections,
    v_title,
)
from selfif.constraints.ifeval.keywords import (
    NO_REPAIR_LETTERS,
    is_literal,
    r_forbidden_words,
    r_keywords_existence,
    r_keywords_frequency,
    v_forbidden_words,
    v_keywords_existence,
    v_keywords_frequency,
    v_letter_frequency,
)
from selfif.constraints.ifeval.language import NO_REPAIR_LANGUAGE, v_response_language
from selfif.constraints.ifeval.length import (
    _PARAGRAPH_DIVIDER,
    NO_REPAIR_LENGTH,
    g_number_words,
    r_nth_paragraph_first_word,
    r_number_paragraphs,
    r_number_sentences,
    r_number_words,
    v_nth_paragraph_first_word,
    v_number_paragraphs,
    v_number_sentences,
    v_number_words,
)
from selfif.constraints.ifeval.punctuation import g_no_comma, r_no_comma, v_no_comma
from selfif.constraints.ifeval.startend import (
    END_PHRASES,
    g_end_checker,
    g_quotation,
    r_end_checker,
    r_quotation,
    v_end_checker,
    v_quotation,
)

# IFEval's order, as registered from the start: the registry and seeded sampling depend on it,
# which is why startend's two types sit apart.
TYPES: tuple[ConstraintType, ...] = (
    *keywords.TYPES,
    *language.TYPES,
    *length.TYPES,
    *detectable_content.TYPES,
    *detectable_format.TYPES,
    *combination.TYPES,
    startend.END_CHECKER,
    *change_case.TYPES,
    *punctuation.TYPES,
    startend.QUOTATION,
)
