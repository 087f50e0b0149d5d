"""Curriculum synthesis: determinism, per-seed independence, prefix property, no repeats, conflicts, CLI."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import pytest
from typer.testing import CliRunner

from selfif.config import SynthConfig
from selfif.constraints import registry
from selfif.data.seeds import Seed
from selfif.data.synth import build_curriculum, compose, curriculum_stats, synthesize
from selfif.io import InputError, read_jsonl


def _seeds(n: int, start: int = 0) -> list[Seed]:
    return [Seed(id=f"s-{i:04d}", text=f"Tell me something interesting about topic {i}.", source="test") for i in range(start, start + n)]


def _write_seeds(path, seeds):
    path.write_text("".join(s.model_dump_json() + "\n" for s in seeds))
    return path


def _chains(rows):
    by_seed: dict[str, dict[int, object]] = {}
    for r in rows:
        by_seed.setdefault(r.seed_id, {})[r.level] = r
    return by_seed


def test_same_seed_identical_file_different_seed_differs(tmp_path):
    seeds = _write_seeds(tmp_path / "seeds.jsonl", _seeds(40))
    synthesize(seeds, tmp_path / "a.jsonl", SynthConfig(seed=0))
    synthesize(seeds, tmp_path / "b.jsonl", SynthConfig(seed=0))
    synthesize(seeds, tmp_path / "c.jsonl", SynthConfig(seed=1))
    a, b, c = ((tmp_path / f"{x}.jsonl").read_bytes() for x in "abc")
    assert a == b
    assert a != c


def test_adding_seeds_does_not_change_other_chains():
    cfg = SynthConfig(seed=3)
    few = {(r.seed_id, r.level): r for r in build_curriculum(_seeds(10), cfg)}
    many = {(r.seed_id, r.level): r for r in build_curriculum(_seeds(30, start=0)[::-1], cfg)}
    assert all(many[k] == v for k, v in few.items())


def test_prefix_property_levels_and_no_repeated_type():
    cfg = SynthConfig(levels=5, hard_ratio=0.5, seed=0)
    rows = build_curriculum(_seeds(200), cfg)
    for seed_id, levels in _chains(rows).items():
        assert sorted(levels) == list(range(len(levels)))
        top = levels[max(levels)]
        assert len(top.constraints) == max(levels) <= 5
        ids = [c.id for c in top.constraints]
        assert len(ids) == len(set(ids)), f"{seed_id} repeats a type: {ids}"
        for k, row in levels.items():
            assert row.constraints == top.constraints[:k]  # level k = first k of the chain
            assert row.prompt == compose(row.seed_text, row.constraints)
            assert row.prompt.startswith(row.seed_text)
        assert levels[0].constraints == [] and levels[0].prompt == levels[0].seed_text


def test_no_conflicting_pair_in_any_chain():
    rows = build_curriculum(_seeds(300), SynthConfig(levels=5, hard_ratio=1.0, seed=7))
    checked = 0
    for levels in _chains(rows).values():
        chain = levels[max(levels)].constraints
        for a, b in itertools.combinations(chain, 2):
            assert not registry.conflicts(a.id, b.id), (a.id, b.id)
            checked += 1
    assert checked > 1000
    # Force the issue where the registry declares conflicts: a pool of one conflicting pair plus
    # one neutral type must never put both of the pair in a chain, even with every slot filled.
    ids = [t.id for t in registry.all_types("hard")]
    pairs = [(a, b) for a, b in itertools.combinations(ids, 2) if registry.conflicts(a, b)]
    forced = 0
    for a, b in pairs:
        neutral = next((t for t in ids if not registry.conflicts(t, a) and not registry.conflicts(t, b)), None)
        if neutral is None or forced >= 5:  # exclusive types combine with nothing
            continue
        forced += 1
        cfg = SynthConfig(levels=3, hard_ratio=1.0, hard_types=[a, b, neutral], soft_types=[], seed=0)
        for levels in _chains(build_curriculum(_seeds(30), cfg)).values():
            got = {c.id for c in levels[max(levels)].constraints}
            assert not {a, b} <= got
            assert len(got) == 2  # the chain ends early instead of breaking the rule
    assert pairs and forced > 0  # the registry declares conflicts, so the forced case ran


def test_hard_ratio_and_kwargs_are_valid():
    rows = build_curriculum(_seeds(300), SynthConfig(levels=5, hard_ratio=0.4, seed=0))
    stats = curriculum_stats(rows, SynthConfig(), 300)
    for levels in _chains(rows).values():
        for c in levels[max(levels)].constraints:
            t = registry.get(c.id)
            assert c.kind == t.kind and c.text
            t.check_kwargs(c.kwargs)  # raises on kwargs outside the type's schema
    if registry.all_types("soft"):
        assert 0.3 < stats["hard_fraction"] < 0.5
    assert stats["levels"]["0"] == 300 and stats["paper"]["levels"]["1"] == 2806


def test_repeat_prompt_gets_the_seed_text():
    cfg = SynthConfig(levels=1, hard_ratio=1.0, hard_types=["combination:repeat_prompt"], soft_types=[], seed=0)
    rows = build_curriculum(_seeds(2), cfg)
    for r in rows:
        if r.level == 1:
            c = r.constraints[0]
            assert c.kwargs["prompt_to_repeat"] == r.seed_text
            assert registry.verify(c.id, r.seed_text + " Here is my answer.", c.kwargs, prompt=r.prompt)


def test_synth_cli_prints_paper_numbers_and_writes_stats(tmp_path):
    from selfif.cli import app

    seeds = _write_seeds(tmp_path / "seeds.jsonl", _seeds(12))
    out = tmp_path / "curriculum.jsonl"
    res = CliRunner().invoke(app, ["synth", "--seeds", str(seeds), "--out", str(out), "--levels", "3", "--seed", "2"])
    assert res.exit_code == 0, res.output
    assert "2806" in res.output and "16095" in res.output
    rows = read_jsonl(out)
    levels = Counter(r["level"] for r in rows)
    assert levels[0] == 12 and set(levels) <= {0, 1, 2, 3}
    assert all(levels[k] >= levels[k + 1] for k in range(3))  # chains can end early, never skip
    stats = json.loads((tmp_path / "curriculum.stats.json").read_text())
    assert stats["levels"] == {str(k): n for k, n in sorted(levels.items())}
    assert sum(stats["kinds"].values()) == sum(stats["per_type"].values()) == len(rows) - 12


def test_synth_bad_seeds_file_names_file_and_line(tmp_path):
    from selfif.cli import app
    from selfif.data.synth import read_seeds

    bad = tmp_path / "seeds.jsonl"
    bad.write_text('{"id": "a", "text": "fine", "source": "x"}\n{"id": "b", "source": "x"}\n')
    with pytest.raises(InputError) as e:
        read_seeds(bad)
    assert e.value.line == 2 and "text" in str(e.value)
    res = CliRunner().invoke(app, ["synth", "--seeds", str(bad), "--out", str(tmp_path / "c.jsonl")])
    assert res.exit_code == 2 and f"{bad}:2:" in res.output
