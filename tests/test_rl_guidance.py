"""Guided GRPO (selfif.rl.guidance) and the truncation rule (selfif.rl.truncation).

The tiny run uses the real packaged policy and the real repairs: every row asks for the answer
wrapped in double quotes, which the base policy never does, so every group triggers; short-answer
seeds make completions end with EOS inside the 32-token cap, so they can be repair sources.
"""

from __future__ import annotations

import json
import random
from pathlib import Path


from selfif.config import TrainConfig

QUOTE = {"id": "startend:quotation", "kind": "hard", "kwargs": {}, "text": "Wrap your entire response with double quotation marks."}
SEEDS = ["What color is the sky? Answer in one word.", "Name one fruit. One word only."]


def write_quote_curriculum(path: Path) -> Path:
    rows = []
    for i, seed in enumerate(SEEDS):
        rows.append({"seed_id": f"s{i}", "level": 0, "prompt": seed, "seed_text": seed, "constraints": []})
        rows.append({"seed_id": f"s{i}", "level": 1, "prompt": f"{seed} {QUOTE['text']}", "seed_text": seed, "constraints": [QUOTE]})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_guided_grpo_replaces_stuck_groups_with_verified_repairs(tmp_path, one_thread):
    from selfif.constraints import registry
    from selfif.reward import InstructionReward
    from selfif.layout import GUIDANCE_LOG
    from selfif.rl.trainer import train_policy

    cfg = TrainConfig(
        schedule="mixed", max_steps=2, learning_rate=1e-5, num_generations=2, per_device_train_batch_size=4,
        max_completion_length=32, temperature=0.7, save_steps=2, report_to=["none"], seed=0,
        guidance="repair", guidance_per_group=1, guidance_max_advantage=0.5,
    )  # fmt: skip
    out = tmp_path / "policy"
    summary = train_policy(cfg, write_quote_curriculum(tmp_path / "c.jsonl"), out, reward=InstructionReward(), plots=True)

    guided = [json.loads(x) for x in (out / GUIDANCE_LOG).read_text().splitlines()]
    assert guided, "no group was guided although no completion can be quoted by the base policy"
    for g in guided:
        assert g["stuck"] == [QUOTE["id"]]
        assert registry.verify(QUOTE["id"], g["repaired"]) and not registry.verify(QUOTE["id"], g["original"])
        assert g["repaired"] == f'"{g["original"]}"' or g["repaired"].strip('"') == g["original"].strip()

    hist = [h for h in json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())["log_history"] if "reward" in h]
    assert [h["step"] for h in hist] == [1, 2]
    assert summary["guidance_share_mean"] > 0
    for h in hist:
        if h.get("guidance/share"):
            # the reward saw the guided (quoted) completions pass; the on-policy curve did not count them
            assert h["onpolicy_pass/all"] == 0.0 and h["onpolicy_pass/startend:quotation"] == 0.0
            assert h["constraint_reward/hard"] > 0
            assert h["guidance/advantage"] <= 0.5 + 1e-6  # clipped to guidance_max_advantage
    assert summary["onpolicy_pass"][QUOTE["id"]]["mean"] == 0.0
    assert Path(summary["plots"]["guidance"]).stat().st_size > 1000
    assert Path(summary["plots"]["onpolicy_pass"]).stat().st_size > 1000


def _rollouts(texts, cons):
    from selfif.rl.guidance import Rollout

    return [Rollout(json.dumps(cons), "Say hi.", t, truncated=t.endswith("...")) for t in texts]


def _encode(t):
    return [1] * len(t.split()) + [2], t


def test_plan_batch_trigger_sources_and_metrics():
    from selfif.rl.guidance import plan_batch

    lower = {"id": "change_case:english_lowercase", "kind": "hard", "kwargs": {}, "text": "lowercase"}
    # group 0: nobody quotes -> triggered, the truncated completion is never a source;
    # group 1: one completion already quotes -> no trigger
    rs = _rollouts(["Hello there my friend...", "Hello there my friend."], [QUOTE]) + _rollouts(['"Hi."', "Hi."], [QUOTE])
    guided, m = plan_batch(rs, 2, k=2, factor=1.0, rng=random.Random(0), encode=_encode)
    assert list(guided) == [1] and guided[1].text == '"Hello there my friend."'
    assert m["guidance/share"] == 0.25 and m["guidance/triggered"] == 0.5 and m["guidance/repaired"] == 0.5
    assert m["onpolicy_pass/startend:quotation"] == 0.25 and m["onpolicy_pass/prompt"] == 0.25

    # a repair that does not fit the completion length is not used
    guided, _ = plan_batch(rs, 2, k=1, factor=1.0, rng=random.Random(0), encode=lambda t: None)
    assert guided == {}
    # guidance off: metrics only
    guided, m = plan_batch(rs, 2, k=1, factor=1.0, rng=random.Random(0), encode=_encode, enabled=False)
    assert guided == {} and "guidance/share" not in m and m["onpolicy_pass/all"] == 0.25
    # two constraints: the source is the completion that already passes the most (lowercase),
    # and its repair keeps what it did right
    rs = _rollouts(["hello there, my good friend, how are you today?", "HELLO"], [lower, QUOTE])
    guided, _ = plan_batch(rs, 2, k=1, factor=1.0, rng=random.Random(0), encode=_encode)
    assert guided[0].text == '"hello there, my good friend, how are you today?"'


def test_decay_and_budget():
    from selfif.rl.guidance import per_group_budget, share_factor

    assert share_factor(0, None) == 1.0 and share_factor(5, 10) == 0.5 and share_factor(12, 10) == 0.0
    rng = random.Random(0)
    draws = [per_group_budget(1, 0.5, rng) for _ in range(2000)]
    assert set(draws) == {0, 1} and 0.45 < sum(draws) / len(draws) < 0.55
    assert per_group_budget(3, 1.0, rng) == 3 and per_group_budget(2, 0.0, rng) == 0


def test_truncated_completions_fail_end_constraints():
    from selfif.reward import InstructionReward
    from selfif.rl.reward import CompletionLimits, trl_reward_with_levels
    from selfif.rl.truncation import end_dependent

    assert end_dependent("startend:quotation") and not end_dependent("punctuation:no_comma")
    assert end_dependent("length_constraints:number_words", {"relation": "less than", "num_words": 50})
    assert not end_dependent("length_constraints:number_words", {"relation": "at least", "num_words": 50})
    comma = {"id": "punctuation:no_comma", "kind": "hard", "kwargs": {}, "text": "no commas"}
    cons = json.dumps([QUOTE, comma])
    fn = trl_reward_with_levels(InstructionReward(), CompletionLimits(max_tokens=3, end_ids=(2,)), truncated_fails_end_constraints=True)
    logged = {}
    kw = dict(prompts=[[{"role": "user", "content": "x"}]] * 2, completions=['"hi there"'] * 2, constraints=[cons, cons],
              level=[2, 2], completion_ids=[[5, 6, 2], [5, 6, 7]], log_metric=logged.__setitem__)
    assert fn(**kw) == [1.0, 0.5]  # the cut one keeps no_comma, loses the closing-quote verdict
    assert logged["truncation/end_constraints_zeroed"] == 0.5
    assert trl_reward_with_levels(InstructionReward())(**kw) == [1.0, 1.0]  # rule off: as before
