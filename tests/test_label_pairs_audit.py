"""Pairs and audit on a hand-built curriculum + responses whose verifier verdicts are known."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from selfif.constraints import registry
from selfif.constraints.base import ConstraintInstance
from selfif.data.synth import CurriculumRow, compose
from selfif.io import InputError, write_jsonl
from selfif.labeling.audit import audit
from selfif.labeling.label import ResponseRow, read_curriculum
from selfif.labeling.pairs import build_pairs

NC = ConstraintInstance(id="punctuation:no_comma", kind="hard", kwargs={}, text="Do not use any commas.")
Q = ConstraintInstance(id="startend:quotation", kind="hard", kwargs={}, text="Wrap your whole reply in double quotes.")
SOFT = ConstraintInstance(id="soft:tone_and_emotion", kind="soft", kwargs={}, text="Use a cheerful tone.")

# seed A: chain (no_comma, quotation, soft); seed B: chain (quotation, no_comma)
CHAINS = {"A": [NC, Q, SOFT], "B": [Q, NC]}
RESPONSES = {
    "A": ['Hello, world.', 'Hello world.', '"Hello world."', '"Hello, world."'],
    "B": ['"Quoted, here."', '"Still quoted, yes."', 'Not quoted, comma.'],
}


def _curriculum() -> list[CurriculumRow]:
    rows = []
    for seed, chain in CHAINS.items():
        text = f"Seed {seed} says hi."
        for k in range(len(chain) + 1):
            rows.append(CurriculumRow(seed_id=seed, level=k, prompt=compose(text, chain[:k]), seed_text=text, constraints=chain[:k]))
    return rows


def _responses(rows) -> list[ResponseRow]:
    return [ResponseRow(seed_id=r.seed_id, level=r.level, prompt=r.prompt, response=RESPONSES[r.seed_id][r.level]) for r in rows]


def test_known_verdicts_hold():
    v = lambda c, s: int(registry.verify(c.id, s, c.kwargs))  # noqa: E731
    assert [v(NC, s) for s in RESPONSES["A"]] == [0, 1, 1, 0]
    assert [v(Q, s) for s in RESPONSES["A"]] == [0, 0, 1, 1]
    assert [v(Q, s) for s in RESPONSES["B"]] == [1, 1, 0]
    assert [v(NC, s) for s in RESPONSES["B"]] == [0, 0, 0]


def test_contrast_pairs():
    rows = _curriculum()
    pairs = build_pairs(rows, _responses(rows))
    assert len(pairs) == 10  # 2 per constraint, 5 constraints
    by_id = {p.pair_id: p for p in pairs}
    pos, neg = by_id["A:k2:pos"], by_id["A:k2:neg"]
    assert pos.constraint == neg.constraint == Q
    assert (pos.response, pos.label, pos.instruction) == ('"Hello world."', 1, rows[2].prompt)
    assert (neg.response, neg.label, neg.instruction) == ('Hello world.', 0, rows[1].prompt)
    assert pos.verifier_label == 1 and neg.verifier_label == 0
    soft = [p for p in pairs if p.constraint.kind == "soft"]
    assert [p.verifier_label for p in soft] == [None, None] and [p.label for p in soft] == [1, 0]
    assert all(p.source == "contrast" for p in pairs)
    assert by_id["B:k1:neg"].verifier_label == 1 and by_id["B:k1:neg"].label == 0  # a wrong pseudo-label, kept
    assert [p.label for p in pairs] == [1, 0] * 5


def test_verifier_labels_for_hard_constraints():
    rows = _curriculum()
    pairs = build_pairs(rows, _responses(rows), hard_labels="verifier")
    for p in pairs:
        if p.constraint.kind == "hard":
            assert p.source == "verifier" and p.label == p.verifier_label
        else:
            assert p.source == "contrast" and p.verifier_label is None
    assert build_pairs(rows, _responses(rows))[3].label == 0  # A:k2:neg stays 0 under contrast


def test_missing_response_is_an_error():
    rows = _curriculum()
    with pytest.raises(InputError, match="have no response"):
        build_pairs(rows, _responses(rows)[1:])


def test_audit_numbers():
    rows = _curriculum()
    rep = audit(rows, _responses(rows), near_chance=0.6)
    nc, q = rep["per_type"]["punctuation:no_comma"], rep["per_type"]["startend:quotation"]
    assert (nc["n_pos"], nc["pos_precision"], nc["neg_precision"], nc["accuracy"], nc["pair_ordering"]) == (2, 0.5, 1.0, 0.75, 0.5)
    assert (nc["asked_pass_rate"], nc["not_asked_pass_rate"], nc["lift"]) == (0.5, 0.0, 0.5)
    assert (nc["n_asked"], nc["n_not_asked"]) == (4, 3)
    assert (q["pos_precision"], q["neg_precision"], q["accuracy"], q["pair_ordering"]) == (1.0, 0.5, 0.75, 0.5)
    assert (q["asked_pass_rate"], q["not_asked_pass_rate"], q["lift"]) == (0.75, 0.3333, 0.4167)
    o = rep["overall"]
    assert (o["n_pos"], o["pos_precision"], o["neg_precision"], o["accuracy"]) == (4, 0.75, 0.75, 0.75)
    assert rep["per_level"]["1"]["pos_precision"] == 1.0 and rep["per_level"]["1"]["neg_precision"] == 0.5
    assert rep["per_level"]["2"]["pos_precision"] == 0.5 and rep["per_level"]["2"]["neg_precision"] == 1.0
    assert rep["n_soft_constraints"] == 1 and "soft:tone_and_emotion" not in rep["per_type"]
    assert rep["flagged"] == [] and not nc["near_chance"]
    strict = audit(rows, _responses(rows), near_chance=0.8)
    assert strict["flagged"] == ["punctuation:no_comma", "startend:quotation"]


def test_audit_only_cli_and_reward_reader(tmp_path):
    from selfif.cli import app
    from selfif.reward.data import load_audit

    rows = _curriculum()
    write_jsonl(tmp_path / "curriculum.jsonl", rows)
    write_jsonl(tmp_path / "responses.jsonl", _responses(rows))
    res = CliRunner().invoke(app, ["label", "--curriculum", str(tmp_path / "curriculum.jsonl"), "--out-dir", str(tmp_path), "--audit-only"])
    assert res.exit_code == 0, res.output
    assert "punctuation:no_comma" in res.output and "0.75" in res.output
    report = json.loads((tmp_path / "audit.json").read_text())
    assert report["per_type"]["startend:quotation"]["accuracy"] == 0.75
    assert load_audit(tmp_path / "audit.json") == {"punctuation:no_comma": 0.75, "startend:quotation": 0.75}


def test_bad_curriculum_lines_are_located(tmp_path):
    from selfif.cli import app

    rows = _curriculum()
    good = rows[0].model_dump_json()
    p = tmp_path / "c.jsonl"
    p.write_text(good + "\n{not json\n")
    with pytest.raises(InputError) as e:
        read_curriculum(p)
    assert e.value.line == 2
    missing = json.loads(rows[1].model_dump_json())
    del missing["prompt"]
    p.write_text(good + "\n\n" + json.dumps(missing) + "\n")
    with pytest.raises(InputError, match=r"c\.jsonl:3: .*prompt"):
        read_curriculum(p)
    res = CliRunner().invoke(app, ["label", "--curriculum", str(p), "--out-dir", str(tmp_path / "o")])
    assert res.exit_code == 2 and f"{p}:3:" in res.output
