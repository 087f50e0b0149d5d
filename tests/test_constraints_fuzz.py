"""Robustness of the hard verifiers: arbitrary unicode, megabyte inputs, deep JSON, pathological
whitespace. Every verifier must return a bool, never raise, and never backtrack catastrophically.

Time bounds here are not speed claims: they are ceilings a quadratic regex on a megabyte would
blow through by hours, set loose enough for a busy 2-core machine.
"""

from __future__ import annotations

import random
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfif.constraints import ifeval, registry

HARD = registry.all_types("hard")
PROMPT = "Write a short poem about the sea. Make it rhyme, please."
MB = 1_000_000
CEILING_S = 30.0


def _kwargs(ctype, seed=0):
    return ctype.sample(random.Random(seed))


def _check_all(text: str, loose: bool):
    for ctype in HARD:
        t0 = time.perf_counter()
        got = registry.verify(ctype.id, text, _kwargs(ctype), loose=loose, prompt=PROMPT)
        elapsed = time.perf_counter() - t0
        assert isinstance(got, bool), ctype.id
        assert elapsed < CEILING_S, f"{ctype.id} took {elapsed:.1f}s on {len(text)} chars"


# ---- the linear scans give the official regexes' answers --------------------------------------

_EDGE = st.text(alphabet="*-[]<> \n\t\r\u00a0abP.Sps", max_size=60)


@settings(max_examples=400, deadline=None)
@given(_EDGE)
def test_linear_scans_match_official_regexes(text):
    bullets = len(re.findall(r"^\s*\*[^\*].*$", text, flags=re.MULTILINE)) + len(re.findall(r"^\s*-.*$", text, flags=re.MULTILINE))
    assert ifeval.count_bullets(text) == bullets
    assert ifeval.count_placeholders(text) == len(re.findall(r"\[.*?\]", text))
    titles = re.findall(r"<<[^\n]+>>", text)
    assert ifeval.has_title(text) == any(t.lstrip("<").rstrip(">").strip() for t in titles)
    for marker, pat in (("P.S.", r"\s*p\.\s?s\..*$"), ("P.P.S", r"\s*p\.\s?p\.\s?s.*$")):
        official = bool(re.findall(pat, text.lower(), flags=re.MULTILINE))
        assert ifeval.v_postscript(text, postscript_marker=marker) == official


# ---- arbitrary text ----------------------------------------------------------------------------

@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_arbitrary_unicode_gives_bools(text):
    _check_all(text, loose=False)
    _check_all(text, loose=True)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([" ", "\n", "\t", "\r", "\u00a0", "\u2028", "\u3000", "*", "-", "x", "\n\n", "***"]), max_size=300))
def test_pathological_whitespace_gives_bools(parts):
    text = "".join(parts)
    _check_all(text, loose=True)


# ---- big inputs -------------------------------------------------------------------------------

def _shapes(size: int) -> dict[str, str]:
    return {
        "star_lines": "*\n" * (size // 2),
        "brackets_angles_one_line": "[<<" * (size // 3),
        "whitespace_then_marker": " \t" * (size // 2) + "P.S. end",
        "unicode_words": "Ünïcödé 日本語 Привет, WORLD! " * (size // 28),
    }


@pytest.mark.parametrize("shape", list(_shapes(10)))
def test_megabyte_inputs_strict(shape):
    _check_all(_shapes(MB)[shape], loose=False)


@pytest.mark.parametrize("shape", list(_shapes(10)))
def test_100kb_inputs_loose(shape):
    _check_all(_shapes(100_000)[shape], loose=True)


def test_deeply_nested_json():
    deep = "[" * 10_000 + "]" * 10_000
    assert registry.verify("detectable_format:json_format", deep, {}) is False  # documented: parser limit
    assert registry.verify("detectable_format:json_format", "```json\n" + '{"a":' * 50 + "1" + "}" * 50 + "\n```", {})
    _check_all(deep, loose=True)


@pytest.mark.slow
@pytest.mark.parametrize("shape", list(_shapes(10)))
def test_megabyte_inputs_loose_all_verifiers(shape):
    _check_all(_shapes(MB)[shape], loose=True)


@pytest.mark.slow
def test_megabyte_uppercase_without_sentence_breaks():
    """Worst case for capital_word_frequency: NLTK's Treebank tokenizer is linear but costs tens
    of microseconds per character, and one 1 MB 'sentence' of tokens must all be tokenized."""
    text = "A[" * (MB // 2)
    t0 = time.perf_counter()
    assert isinstance(registry.verify("change_case:capital_word_frequency", text, {"capital_frequency": 3, "capital_relation": "at least"}), bool)
    assert time.perf_counter() - t0 < 120
