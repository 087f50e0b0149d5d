"""Curriculum schedules and the curriculum sampler: pure logic, no model."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from selfif.rl.sampler import CurriculumSampler
from selfif.rl.schedules import AdaptiveSchedule, MixedSchedule, OrderedSchedule, make_schedule

# 4 rows per level, levels 1..3 (row i has level LEVELS[i])
LEVELS = [1] * 4 + [2] * 4 + [3] * 4


def test_ordered_advances_after_level_steps():
    s = OrderedSchedule(LEVELS, seed=0, level_steps=2)
    seen = []
    for _ in range(7):
        chunk = s.next_chunk(2)
        seen.append({LEVELS[i] for i in chunk})
    assert seen == [{1}, {1}, {2}, {2}, {3}, {3}, {3}]  # last level stays active


def test_ordered_advances_early_on_threshold():
    s = OrderedSchedule(LEVELS, seed=0, level_steps=100, advance_threshold=0.8)
    c = s.next_chunk(2)
    assert {LEVELS[i] for i in c} == {1}
    s.observe(c, [0.5, 0.6])  # below the threshold: stay
    assert {LEVELS[i] for i in s.next_chunk(2)} == {1}
    s.observe(c, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0][:2])  # stage mean (0.5+0.6+1+1)/4 = 0.775 < 0.8
    assert {LEVELS[i] for i in s.next_chunk(2)} == {1}
    s.observe(c, [1.0, 1.0])  # mean 0.85 >= 0.8: advance
    assert {LEVELS[i] for i in s.next_chunk(2)} == {2}
    assert s.active_level == 2


def test_ordered_tops_up_a_level_smaller_than_a_round():
    s = OrderedSchedule([1, 2, 2, 3], seed=0, level_steps=1)
    first = sorted(LEVELS_OF(s, s.next_chunk(3)))
    assert len(first) == 3 and first[0] == 1 and all(x > 1 for x in first[1:])  # the L1 row + two later rows
    s.next_chunk(3)
    last = s.next_chunk(3)  # L3 has one row: topped up from earlier levels
    assert len(set(last)) == 3 and 3 in [s.levels[i] for i in last]


def LEVELS_OF(s, rows):
    return [s.levels[i] for i in rows]


def test_ordered_cycles_through_a_level_without_repeats():
    s = OrderedSchedule(LEVELS, seed=1, level_steps=2)
    rows = s.next_chunk(2) + s.next_chunk(2)
    assert sorted(rows) == [0, 1, 2, 3]  # one pass over L1 covers each row once


def test_mixed_covers_all_levels_each_pass():
    s = MixedSchedule(LEVELS, seed=0)
    rows = [r for _ in range(3) for r in s.next_chunk(4)]
    assert sorted(rows) == list(range(12))  # one full permutation per pass
    assert s.active_level is None
    first_chunks = {LEVELS[i] for i in rows[:8]}
    assert len(first_chunks) >= 2  # shuffled together, not level by level


def test_adaptive_prefers_rows_that_are_sometimes_solved():
    s = AdaptiveSchedule(LEVELS, seed=0, epsilon=0.01)
    solved, unsolved, mid = [0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]
    s.observe(solved * 2, [1.0] * 8)
    s.observe(unsolved * 2, [0.0] * 8)
    s.observe(mid * 2, [1.0] * 4 + [0.0] * 4)
    counts = Counter(r for _ in range(300) for r in s.next_chunk(1))
    picked_mid = sum(counts[r] for r in mid)
    assert picked_mid > 0.85 * 300, counts
    assert s.weight(8) == pytest.approx(0.25 + 0.01)
    assert s.weight(0) == pytest.approx(0.01)


def test_adaptive_chunk_rows_are_distinct():
    s = AdaptiveSchedule(LEVELS, seed=3)
    for _ in range(20):
        chunk = s.next_chunk(5)
        assert len(set(chunk)) == 5


def test_state_roundtrip_reproduces_choices():
    for name in ("ordered", "mixed", "adaptive"):
        a = make_schedule(name, LEVELS, seed=5, level_steps=2)
        for _ in range(3):
            c = a.next_chunk(3)
            a.observe(c, [0.2, 0.9, 0.5])
        state = json.loads(json.dumps(a.state_dict()))  # must survive JSON
        b = make_schedule(name, LEVELS, seed=999, level_steps=2)
        b.load_state_dict(state)
        assert [a.next_chunk(3) for _ in range(4)] == [b.next_chunk(3) for _ in range(4)], name


def test_state_from_other_schedule_or_curriculum_is_rejected():
    a = make_schedule("mixed", LEVELS)
    with pytest.raises(ValueError, match="mixed"):
        make_schedule("ordered", LEVELS).load_state_dict(a.state_dict())
    with pytest.raises(ValueError, match="curriculum rows"):
        make_schedule("mixed", LEVELS[:-1]).load_state_dict(a.state_dict())


def test_unknown_schedule():
    with pytest.raises(ValueError, match="unknown schedule"):
        make_schedule("random", LEVELS)


def test_sampler_keeps_trl_repeat_structure():
    s = CurriculumSampler(OrderedSchedule(LEVELS, level_steps=1), chunk_size=2, mini_repeat_count=3, repeat_count=2)
    idx = list(s)
    assert len(idx) == len(s) == 6 * 2 * 3 * 2  # 6 chunks per epoch
    first = idx[:12]
    a, b = first[0], first[3]
    assert first == [a] * 3 + [b] * 3 + [a] * 3 + [b] * 3  # groups, then the chunk repeated
    levels_per_chunk = [LEVELS[idx[i * 12]] for i in range(6)]
    assert levels_per_chunk == [1, 2, 3, 3, 3, 3]


def test_sampler_rejects_rounds_larger_than_the_curriculum():
    with pytest.raises(ValueError, match="distinct prompts"):
        CurriculumSampler(MixedSchedule(LEVELS), chunk_size=13, mini_repeat_count=2)


def test_sampler_checkpoint_rewinds_prefetched_chunks():
    """A chunk chosen (prefetched) but not trained on is chosen again after a resume."""
    s = CurriculumSampler(OrderedSchedule(LEVELS, seed=0, level_steps=1), chunk_size=2, mini_repeat_count=1)
    it = iter(s)
    c0 = [next(it), next(it)]
    c1 = [next(it), next(it)]  # prefetched by the data loader, not yet trained on
    s.observe(c0, [1.0, 0.0])  # round 0 trained
    state = json.loads(json.dumps(s.checkpoint_state()))
    assert state["consumed"] == 1
    resumed = CurriculumSampler(OrderedSchedule(LEVELS, seed=0, level_steps=1), chunk_size=2, mini_repeat_count=1)
    resumed.load_checkpoint_state(state)
    it2 = iter(resumed)
    assert [next(it2), next(it2)] == c1  # the same chunk 1, not chunk 2
    assert resumed.schedule.level_mean(1) == 0.5  # round 0's rewards survived the rewind
