"""The official IFEval checkers (the ``if-verifiable`` copy), run offline: the one oracle shim.

Used by the parity tests (per instruction and per row) and by ``benchmarks/verifiers.py``. The
checkers run the way IFEval's evaluation runs them: a checker built per instruction, ``None``
kwargs dropped, strict = non-blank and passes, loose = any non-blank official variant passes.

Offline shims (test and benchmark only; they change no verdict):
- NLTK's Punkt English comes from the ``punkt`` package instead of ``nltk_data``, for
  ``sent_tokenize`` and for ``word_tokenize`` (which splits sentences first);
- langdetect is seeded, as IFEval seeds it for reproducible runs, and optionally memoised on the
  text (its result is a pure function of the text once seeded; benchmarks that time the official
  checkers leave it off so no work is reused).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator


def undefined_officially(iid: str, kwargs: dict) -> bool:
    """``keywords:letter_frequency`` with a ``letter`` that is not one ASCII letter (IFEval keys
    1122 and 1129): the official checker then tests a *random* letter, so it has no verdict to
    compare with. Our registry counts the named character instead (documented deviation)."""
    letter = kwargs.get("letter")
    return iid == "keywords:letter_frequency" and not (
        isinstance(letter, str) and len(letter) == 1 and letter.isascii() and letter.isalpha()
    )


@contextlib.contextmanager
def offline_checkers(memoise_langdetect: bool = True) -> Iterator[None]:
    """Install the offline shims for the duration of the block (undone on exit)."""
    import langdetect
    import nltk
    import punkt
    from if_verifiable.ifeval import instructions_util as util
    from langdetect import DetectorFactory
    from nltk.tokenize.destructive import NLTKWordTokenizer

    DetectorFactory.seed = 0
    sent = punkt.tokenizer_for("english")
    words = NLTKWordTokenizer()
    patches = [
        (util, "_get_sentence_tokenizer", lambda: sent),
        (nltk.tokenize, "sent_tokenize", lambda text, language="english": sent.tokenize(text)),
        (nltk, "word_tokenize", lambda text, *a, **k: [t for s in sent.tokenize(text) for t in words.tokenize(s)]),
    ]
    if memoise_langdetect:
        patches.append((langdetect, "detect", functools.lru_cache(maxsize=None)(langdetect.detect)))
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
    try:
        for obj, name, value in patches:
            setattr(obj, name, value)
        yield
    finally:
        for obj, name, value in saved:
            setattr(obj, name, value)


def official_variants(response: str) -> list[str]:
    """IFEval's loose-mode variants: first/last line removed, ``*`` removed."""
    lines = response.split("\n")
    base = [response, "\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(), "\n".join(lines[1:-1]).strip()]
    return base + [b.replace("*", "") for b in base]


def official_verdict(iid: str, kwargs: dict, prompt: str, response: str) -> tuple[bool, bool]:
    """(strict, loose) of one instruction by the official checker (inside :func:`offline_checkers`)."""
    from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT

    checker = INSTRUCTION_DICT[iid](iid)
    checker.build_description(**{k: v for k, v in kwargs.items() if v is not None})
    args = checker.get_instruction_args()
    if args and "prompt" in args:
        checker.build_description(prompt=prompt)
    strict = bool(response.strip() and checker.check_following(response))
    loose = any(v.strip() and checker.check_following(v) for v in official_variants(response))
    return strict, loose


def official_row(row: dict, response: str) -> list[tuple[bool, bool]]:
    """(strict, loose) per instruction of one benchmark row (a dict as in the JSONL file)."""
    return [official_verdict(iid, kw, row["prompt"], response) for iid, kw in zip(row["instruction_id_list"], row["kwargs"])]


def official_evaluation(row, response: str) -> tuple[list[bool], list[bool]]:
    """``if-verifiable``'s own per-row evaluation (its aggregation code path), for a ``BenchmarkRow``."""
    from if_verifiable.common import evaluate_instructions
    from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT

    results, _ = evaluate_instructions(response, row.instruction_id_list, row.kwargs, row.prompt, INSTRUCTION_DICT)
    if not results:  # the oracle returns no verdicts for a blank response; IFEval: all not followed
        return [False] * len(row.instruction_id_list), [False] * len(row.instruction_id_list)
    return [r.strict_pass for r in results], [r.loose_pass for r in results]
