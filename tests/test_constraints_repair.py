"""Repairs (``registry.repair`` / ``repair_chain``): every result passes the strict verifier, a
repair is idempotent, and chains that ``selfif synth`` draws are repaired jointly.

Responses are real greedy SmolLM2 outputs (``tests/data/constraints_smollm2_responses.jsonl``)
plus arbitrary text from Hypothesis; kwargs come from each type's own sampler.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfif.config import SynthConfig
from selfif.constraints import registry
from selfif.data import synth

DATA = Path(__file__).resolve().parent / "data"

# Hard types without a repair; adding or losing one must show up here.
UNREPAIRABLE = {
    "keywords:letter_frequency",
    "language:response_language",
    "count:word_repetition",
    "ratio:stop_words",
}


@pytest.fixture(scope="module")
def responses() -> list[dict]:
    rows = [json.loads(line) for line in (DATA / "constraints_smollm2_responses.jsonl").read_text().splitlines()[1:]]
    return [r for r in rows if r["response"].strip()]


def _real_rows():
    rows = [json.loads(line) for line in (DATA / "constraints_smollm2_responses.jsonl").read_text().splitlines()[1:]]
    return [r for r in rows if r["response"].strip()]


REAL = _real_rows()
HARD = [t.id for t in registry.all_types("hard")]
REPAIRABLE = [i for i in HARD if i not in UNREPAIRABLE]


def test_unrepairable_types_are_listed_with_a_reason():
    assert {i for i in HARD if not registry.repairable(i)} == UNREPAIRABLE
    for i in UNREPAIRABLE:
        assert registry.get(i).no_repair, f"{i}: say why there is no repair"
    assert not any(registry.repairable(t.id) for t in registry.all_types("soft"))
    with pytest.raises(registry.ConstraintError):
        registry.repairable("no:such_type")


_texts = st.one_of(
    st.text(max_size=300),
    st.sampled_from([r["response"] for r in REAL]),
    st.builds(lambda r, k: (r["response"] + "\n\n") * k, st.sampled_from(REAL), st.integers(5, 40)),
    # markdown-shaped answers, bare list markers included (a "* " line once crashed the bullet repair)
    st.lists(st.sampled_from(["* ", "-", "1.", "* A point here.", "- another item", "2. Step two.", "", "Plain text.",
                              "# Title", "***", "<<Title>>"]), max_size=12).map("\n".join),
)


@pytest.mark.parametrize("type_id", HARD)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_texts, seed=st.integers(0, 10_000), prompt=st.sampled_from([r["prompt"] for r in REAL]))
def test_repair_passes_strict_and_is_idempotent(type_id, text, seed, prompt):
    kwargs = registry.get(type_id).sample(random.Random(seed))
    fixed = registry.repair(type_id, text, kwargs, prompt)
    if fixed is None:
        return
    assert registry.verify(type_id, fixed, kwargs, prompt=prompt)
    assert registry.repair(type_id, fixed, kwargs, prompt) == fixed


@pytest.mark.parametrize("type_id", REPAIRABLE)
def test_each_repair_fixes_real_responses(type_id, responses):
    """Not vacuous: on real model output the repair succeeds for most sampled kwargs."""
    ctype = registry.get(type_id)
    failing = fixed = 0
    for i, row in enumerate(responses):
        kwargs = ctype.sample(random.Random(f"{type_id}{i}"))
        if registry.verify(type_id, row["response"], kwargs, prompt=row["prompt"]):
            continue
        failing += 1
        fixed += registry.repair(type_id, row["response"], kwargs, row["prompt"]) is not None
    floor = 1 if ctype.no_repair else max(1, failing // 4)  # partial repairs: some cases have none
    assert failing and fixed >= floor, f"{type_id}: repaired {fixed} of {failing}"


def test_easy_repairs_look_like_answers():
    r = "The river flows east, past the old mill. It is long!\n\nIn summer, the water is warm."
    assert registry.repair("change_case:english_lowercase", r) == r.lower()
    assert registry.repair("change_case:english_capital", r) == r.upper()
    assert registry.repair("startend:quotation", r) == f'"{r}"'
    assert registry.repair("combination:repeat_prompt", r, prompt="Tell me about the river.") == "Tell me about the river.\n\n" + r
    assert registry.repair("punctuation:no_comma", r) == r.replace(",", "")
    two = registry.repair("combination:two_responses", r)
    assert two == "The river flows east, past the old mill. It is long!\n******\nIn summer, the water is warm."
    assert registry.repair("startend:end_checker", r, {"end_phrase": "Any other questions?"}).endswith("warm. Any other questions?")
    assert registry.repair("detectable_content:postscript", r, {"postscript_marker": "P.S."}).startswith(r + "\n\nP.S. ")
    assert registry.repair("detectable_format:title", "# River facts\nIt flows.") == "<<River facts>>\nIt flows."
    assert json.loads(registry.repair("detectable_format:json_format", r)) == {"answer": r}
    # passing responses come back unchanged; blank ones have nothing to repair
    assert registry.repair("punctuation:no_comma", "No commas here.") == "No commas here."
    assert registry.repair("startend:quotation", "   ") is None


def test_non_english_text_has_no_case_repair():
    german = "Der Fluss fließt nach Osten, vorbei an der alten Mühle. Im Sommer ist das Wasser warm und klar."
    assert registry.repair("change_case:english_lowercase", german) is None
    assert registry.repair("change_case:english_capital", german) is None


def test_layout_repairs_regroup_sentences():
    r = "One thing. Two things. Three things. Four things. Five things."
    paras = registry.repair("length_constraints:number_paragraphs", r, {"num_paragraphs": 2})
    assert paras == "One thing. Two things. Three things.\n\n***\n\nFour things. Five things."
    story = "It rained. The river rose. We left early.\n\nThe town was quiet."
    nth = registry.repair("length_constraints:nth_paragraph_first_word", story, {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "river"})
    assert nth == "It rained. The river rose. We left early.\n\nRiver, the town was quiet."
    bullets = registry.repair("detectable_format:number_bullet_lists", r, {"num_bullets": 5})
    assert bullets.split("\n") == ["* One thing.", "* Two things.", "* Three things.", "* Four things.", "* Five things."]
    assert registry.repair("detectable_format:number_bullet_lists", "Just one sentence.", {"num_bullets": 3}) is None
    bare = registry.repair("detectable_format:number_bullet_lists", "Intro:\n* \n- a\n- b\n1.\nThat is all.", {"num_bullets": 2})
    assert bare == "Intro:\n* a\n* b\n1.\nThat is all."  # "1." without text is no list item


def _chains(cfg: SynthConfig):
    hard = synth._pool("hard", cfg.hard_types)
    soft = synth._pool("soft", cfg.soft_types)
    for i, row in enumerate(REAL):
        seed_text = row["prompt"].split(".")[0] + "."
        chain = synth.sample_chain(f"s{i}", seed_text, cfg, hard, soft)
        if any(c.kind == "hard" for c in chain):
            yield chain, synth.compose(seed_text, chain), row["response"]


@pytest.mark.parametrize(
    "cfg",
    [
        SynthConfig(),  # the default mix: 5 levels, 40 % hard
        SynthConfig(levels=3, hard_ratio=0.8, hard_types=[t.id for t in registry.all_types("hard") if t.ifeval]),  # cpu-2h
    ],
    ids=["default", "cpu-2h"],
)
def test_joint_repair_of_synth_chains(cfg):
    """Among chains whose every hard constraint is repairable on its own for the response, at
    least 95 % are repaired jointly (the rest are counted: interactions such as a repeated
    request bringing back commas)."""
    total = joint = 0
    for seed in range(4):
        for chain, prompt, response in _chains(cfg.model_copy(update={"seed": seed})):
            hard = [c for c in chain if c.kind == "hard"]
            if not all(registry.repair(c.id, response, c.kwargs, prompt) is not None for c in hard):
                continue
            total += 1
            out = registry.repair_chain(chain, response, prompt)
            if out is not None:
                joint += 1
                assert all(registry.verify(c.id, out, c.kwargs, prompt=prompt) for c in hard)
    assert total >= 60
    assert joint / total >= 0.95, f"joint repair {joint}/{total}"


def test_repair_positives_in_pairs(tmp_path):
    """label.repair_positives: a repaired L_k-1 answer joins the pairs as a positive (source
    "repair"); old pairs files without the new source value still load."""
    from selfif.constraints.base import ConstraintInstance
    from selfif.data.synth import CurriculumRow, compose
    from selfif.io import write_jsonl
    from selfif.labeling.label import ResponseRow
    from selfif.labeling.pairs import build_pairs
    from selfif.reward.data import load_pairs

    nc = ConstraintInstance(id="punctuation:no_comma", kind="hard", text="Do not use any commas.")
    low = ConstraintInstance(id="change_case:english_lowercase", kind="hard", text="Write in lowercase.")
    soft = ConstraintInstance(id="soft:tone_and_emotion", kind="soft", text="Use a cheerful tone.")
    chain, seed = [nc, low, soft], "Tell me about rivers."
    answers = ["Rivers flow, bend and carve valleys over time.", "Rivers flow and carve valleys over time.",
               "rivers flow and carve valleys over time.", "rivers flow happily and carve valleys!"]
    rows = [CurriculumRow(seed_id="s", level=k, prompt=compose(seed, chain[:k]), seed_text=seed, constraints=chain[:k]) for k in range(4)]
    responses = [ResponseRow(seed_id="s", level=r.level, prompt=r.prompt, response=answers[r.level]) for r in rows]

    plain = build_pairs(rows, responses)
    pairs = build_pairs(rows, responses, repair_positives=True)
    repaired = [p for p in pairs if p.source == "repair"]
    assert [p.model_dump() for p in pairs if p.source != "repair"] == [p.model_dump() for p in plain]
    assert [(p.pair_id, p.response, p.label, p.instruction) for p in repaired] == [
        ("s:k1:repair", "Rivers flow bend and carve valleys over time.", 1, rows[1].prompt),
        ("s:k2:repair", "rivers flow and carve valleys over time.", 1, rows[2].prompt),
    ]
    write_jsonl(tmp_path / "pairs.jsonl", pairs)
    assert {p.source for p in load_pairs(tmp_path / "pairs.jsonl")} == {"contrast", "repair"}
    old = [{k: v for k, v in p.model_dump().items() if k != "source"} for p in plain]
    (tmp_path / "old.jsonl").write_text("".join(json.dumps(o) + "\n" for o in old))
    assert {p.source for p in load_pairs(tmp_path / "old.jsonl")} == {"contrast"}
