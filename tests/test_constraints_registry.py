"""The registry contract every stage relies on: fail-closed lookups, schemas, samplers, templates,
graded scores, conflicts, and the ``selfif constraints`` command."""

from __future__ import annotations

import json
import random

import pytest
from typer.testing import CliRunner

from selfif.cli import app
from selfif.constraints import conflicts as conflicts_mod
from selfif.constraints import registry
from selfif.constraints.base import ConstraintError, ConstraintInstance

HARD = registry.all_types("hard")
SOFT = registry.all_types("soft")
PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."


def test_counts_and_sorting():
    assert len(HARD) >= 31 and len(SOFT) == 25
    assert sum(t.ifeval for t in HARD) == 25
    ids = [t.id for t in registry.all_types()]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    assert all(t.id.startswith("soft:") and t.verify is None for t in SOFT)
    assert all(len(t.templates) >= 3 for t in registry.all_types())


def test_unknown_id_fails_closed():
    with pytest.raises(ConstraintError, match="unknown constraint id"):
        registry.get("keywords:nope")
    with pytest.raises(ConstraintError):
        registry.verify("made:up", "text", {})
    with pytest.raises(ConstraintError):
        registry.conflicts("punctuation:no_comma", "made:up")
    with pytest.raises(ConstraintError, match="soft constraint"):
        registry.verify("soft:tone_and_emotion", "text", {"tone": "warm"})


@pytest.mark.parametrize(
    "type_id, kwargs, match",
    [
        ("punctuation:no_comma", {"num_words": 3}, "unknown kwargs"),
        ("length_constraints:number_words", {"num_words": 100}, "missing required"),
        ("length_constraints:number_words", {"num_words": "100", "relation": "at least"}, "must be an integer"),
        ("length_constraints:number_words", {"num_words": True, "relation": "at least"}, "must be an integer"),
        ("length_constraints:number_words", {"num_words": 100, "relation": "about"}, "must be one of"),
        ("length_constraints:number_sentences", {"num_sentences": -1, "relation": "at least"}, ">= 0"),
        ("keywords:existence", {"keywords": []}, "non-empty list"),
        ("keywords:existence", {"keywords": "river"}, "non-empty list"),
        ("keywords:existence", {"keywords": ["(unclosed"]}, "not a valid pattern"),
        ("keywords:letter_frequency", {"letter": "ab", "let_frequency": 2, "let_relation": "at least"}, "single character"),
        ("startend:end_checker", {"end_phrase": "  "}, "non-empty string"),
        ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 3, "first_word": "x"}, "1..num_paragraphs"),
        ("copy:span_idx", {"n_start": 5, "n_end": 2}, "n_start < n_end"),
    ],
)
def test_bad_kwargs_fail_closed(type_id, kwargs, match):
    with pytest.raises(ConstraintError, match=match):
        registry.verify(type_id, "Some response text.", kwargs, prompt=PROMPT)


def test_null_kwargs_are_dropped_like_official_eval():
    """The HF copy of IFEval fills unused kwargs with null; those must not count as unknown."""
    kw = {"num_highlights": None, "relation": None, "keywords": None}
    assert registry.verify("punctuation:no_comma", "no commas here", kw) is True
    assert registry.verify("punctuation:no_comma", "a, b", kw) is False


def test_prompt_dependent_types_need_the_prompt():
    with pytest.raises(ConstraintError, match="prompt"):
        registry.verify("combination:repeat_prompt", "x", {})
    with pytest.raises(ConstraintError, match="prompt"):
        registry.verify("copy:span_idx", "x", {"n_start": 0, "n_end": 5})
    assert registry.verify("combination:repeat_prompt", PROMPT + "\nOnce upon a time...", {}, prompt=PROMPT)
    assert registry.verify("combination:repeat_prompt", "Sure! " + PROMPT, {}, prompt=PROMPT) is False
    assert registry.verify("copy:span_idx", " Write a short ", {"n_start": 0, "n_end": 14}, prompt=PROMPT)
    assert not registry.verify("copy:span_idx", "Write a short story", {"n_start": 0, "n_end": 14}, prompt=PROMPT)


def test_blank_response_never_follows():
    for t in HARD:
        kw = t.sample(random.Random(0))
        for blank in ("", "  \n\t"):
            assert registry.verify(t.id, blank, kw, prompt=PROMPT) is False
            assert registry.verify(t.id, blank, kw, loose=True, prompt=PROMPT) is False


@pytest.mark.parametrize("ctype", registry.all_types(), ids=lambda t: t.id)
def test_samplers_valid_and_every_template_renders(ctype):
    rng = random.Random(1)
    for _ in range(10):
        kw = ctype.sample(rng)
        assert ctype.check_kwargs(kw) == kw
        for i in range(len(ctype.templates)):
            text = ctype.render(kw, template=i)
            assert text.strip() and "{" not in text.replace("{}", ""), text
        inst = ctype.instance(rng)
        assert isinstance(inst, ConstraintInstance) and inst.id == ctype.id and inst.kind == ctype.kind
        assert ConstraintInstance.model_validate(json.loads(inst.model_dump_json())) == inst
        if ctype.verify is not None:
            assert type(registry.verify(ctype.id, "A plain answer. It has two sentences.", kw, prompt=PROMPT)) is bool
            # IFEval's rule: a blank response follows no instruction, strict or loose
            assert registry.verify(ctype.id, "  ", kw, prompt=PROMPT) is False
            assert registry.verify(ctype.id, "", kw, loose=True, prompt=PROMPT) is False


def test_sampling_is_deterministic():
    a = [t.instance(random.Random(7)) for t in registry.all_types()]
    b = [t.instance(random.Random(7)) for t in registry.all_types()]
    assert a == b


def test_extra_hard_verdicts():
    v = registry.verify
    assert v("count:exact_sentences", "One. Two. Three.", {"num_sentences": 3})
    assert not v("count:exact_sentences", "One. Two.", {"num_sentences": 3})
    assert v("words:no_digits", "twenty two apples", {}) and not v("words:no_digits", "22 apples", {})
    assert v("words:start_keyword", '"River" flows here', {"keyword": "river"})
    assert v("words:end_keyword", "we cross the river.", {"keyword": "River"})
    assert not v("words:end_keyword", "the river is wide", {"keyword": "river"})
    assert v("count:word_repetition", "the the the the cat sat", {"max_repeats": 2})
    assert not v("count:word_repetition", "cat cat cat", {"max_repeats": 2})
    assert v("count:punctuation", "Wow! Yes!", {"mark": "!", "frequency": 2, "relation": "at least"})
    assert v("count:punctuation", "Wow! Yes!", {"mark": "?", "frequency": 1, "relation": "less than"})
    assert v("ratio:stop_words", "Quantum computers factor primes quickly", {"percentage": 30})
    assert not v("ratio:stop_words", "it is the one of the best", {"percentage": 30})
    assert v("format:title_case", "The Quick Brown Fox 42", {}) and not v("format:title_case", "The quick Fox", {})


def test_loose_mode_official_variants():
    kw = {"end_phrase": "Any other questions?"}
    text = "Intro line\nSome answer. Any other questions?\nBest,"
    assert not registry.verify("startend:end_checker", text, kw)
    assert registry.verify("startend:end_checker", text, kw, loose=True)  # last line removed
    assert registry.verify("detectable_format:title", "**<<My Title>>**", {}, loose=True)
    assert registry.verify("punctuation:no_comma", "Hi, there\nbody", {}, loose=True)


GRADED_REQUIRED = [
    "change_case:english_lowercase",
    "change_case:english_capital",
    "length_constraints:number_words",
    "startend:quotation",
    "punctuation:no_comma",
    "detectable_format:title",
    "startend:end_checker",
]


@pytest.mark.parametrize("type_id", GRADED_REQUIRED)
def test_graded_scores_in_unit_interval_and_full_when_followed(type_id):
    ctype = registry.get(type_id)
    assert ctype.graded is not None
    rng = random.Random(3)
    kw = ctype.sample(rng)
    texts = ["", "Hello there, friend.", '"Quoted, mostly" not', "<<T>>\nall lower case text here", "A" * 50, "x " * 400]
    for t in texts:
        g = registry.graded(type_id, t, kw)
        assert 0.0 <= g <= 1.0
        if registry.verify(type_id, t, kw) and type_id not in ("change_case:english_lowercase", "change_case:english_capital"):
            assert g == 1.0
    assert registry.graded(type_id, "", kw) == 0.0


def test_graded_slopes():
    g = registry.graded
    assert g("punctuation:no_comma", "a, b", {}) > g("punctuation:no_comma", "a, b, c, d", {})
    assert g("change_case:english_lowercase", "mostly lowercase Text", {}) > g("change_case:english_lowercase", "MOSTLY UPPER text", {})
    nw = {"num_words": 100, "relation": "at least"}
    assert g("length_constraints:number_words", "w " * 90, nw) > g("length_constraints:number_words", "w " * 30, nw)
    assert g("startend:quotation", '"almost all quoted" x', {}) > g("startend:quotation", 'x "a" xxxxxxxxxxxxxxxxxx', {})
    assert g("punctuation:no_comma", "a", {}) == 1.0
    assert registry.graded("keywords:existence", "x", {"keywords": ["x"]}) is None


def test_conflicts_symmetric_and_known_pairs():
    ids = [t.id for t in registry.all_types()]
    assert conflicts_mod.referenced_ids() <= set(ids)
    for a in ids:
        assert registry.conflicts(a, a)
        for b in ids:
            assert registry.conflicts(a, b) == registry.conflicts(b, a)
    c = registry.conflicts
    assert c("change_case:english_lowercase", "change_case:english_capital")
    assert c("change_case:capital_word_frequency", "change_case:english_lowercase")
    assert c("detectable_format:json_format", "combination:two_responses")
    assert c("detectable_format:json_format", "detectable_format:multiple_sections")
    assert c("detectable_format:json_format", "detectable_format:title")
    assert c("combination:repeat_prompt", "words:start_keyword")
    assert c("startend:end_checker", "detectable_content:postscript")
    assert c("soft:fundamental_format", "detectable_format:json_format")
    assert not c("punctuation:no_comma", "detectable_format:title")
    assert not c("keywords:existence", "soft:tone_and_emotion")


def test_register_rejects_duplicates_and_inconsistent_types():
    t = registry.get("punctuation:no_comma")
    with pytest.raises(ConstraintError, match="already registered"):
        registry.register(t)
    soft = registry.get("soft:inverse")
    import dataclasses

    with pytest.raises(ConstraintError, match="hard types need verify"):
        registry.register(dataclasses.replace(soft, id="soft:test_bad", kind="hard"))


def test_cli_lists_and_shows():
    runner = CliRunner()
    res = runner.invoke(app, ["constraints", "--kind", "soft", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert len(rows) == 25 and all(r["kind"] == "soft" and r["templates"] >= 3 for r in rows)
    res = runner.invoke(app, ["constraints"])
    n = len(registry.all_types())
    assert res.exit_code == 0 and f"{n} constraint types" in res.output and "soft:inverse" in res.output
    res = runner.invoke(app, ["constraints", "--show", "keywords:frequency", "--n", "2", "--json"])
    assert res.exit_code == 0, res.output
    insts = [ConstraintInstance.model_validate_json(line) for line in res.output.strip().splitlines()]
    assert len(insts) == 2 and all(i.id == "keywords:frequency" for i in insts)
    res = runner.invoke(app, ["constraints", "--show", "no:such"])
    assert res.exit_code != 0 and "unknown constraint id" in res.output
