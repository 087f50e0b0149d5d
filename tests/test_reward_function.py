"""The instruction reward: math, options, defined edge cases, and the TRL / verl adapters."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
from reward_helpers import ServerThread, free_port

from selfif.constraints import registry
from selfif.reward.client import RMClient
from selfif.reward.function import (
    InstructionReward,
    compute_score,
    make_trl_reward,
    make_verl_compute_score,
    validate_dataset,
)

PLAIN = "this is a simple sentence written in plain english without any capital letters"
NO_COMMA = {"id": "punctuation:no_comma", "kind": "hard", "kwargs": {}, "text": "Do not use any commas."}
LOWER = {"id": "change_case:english_lowercase", "kind": "hard", "kwargs": {}, "text": "Write only in lowercase letters."}
WORDS = {
    "id": "length_constraints:number_words", "kind": "hard",
    "kwargs": {"relation": "less than", "num_words": 5}, "text": "Answer with less than 5 words.",
}  # fmt: skip
TONE = {"id": "soft:tone_and_emotion", "kind": "soft", "kwargs": {}, "text": "Use a cheerful tone."}
ROLE = {"id": "soft:role_based", "kind": "soft", "kwargs": {}, "text": "Answer as a pirate."}


def test_hard_only_reward_is_the_mean_of_verifier_verdicts():
    reward = InstructionReward()
    res = reward([NO_COMMA, LOWER, WORDS], "hello there, my dear old friend")
    assert res.components == [0.0, 1.0, 0.0]
    assert res.total == pytest.approx(1 / 3)
    assert res.kinds == ["hard", "hard", "hard"]
    assert reward([NO_COMMA, LOWER], PLAIN).total == 1.0


def test_soft_components_are_rm_probabilities_and_binary_thresholds_them(loaded_rm):
    rm = loaded_rm
    resp = "Ahoy! The sea is calm today"
    p_tone, p_role = rm.score([(resp, TONE["text"]), (resp, ROLE["text"])])
    res = InstructionReward(rm=rm)([NO_COMMA, TONE, ROLE], resp)
    assert res.components == pytest.approx([1.0, p_tone, p_role], abs=1e-5)
    assert res.total == pytest.approx((1.0 + p_tone + p_role) / 3, abs=1e-5)
    binary = InstructionReward(rm=rm, binary=True)([TONE, ROLE], resp)
    assert binary.components == [float(p_tone >= 0.5), float(p_role >= 0.5)]


def test_rm_for_hard_scores_hard_constraints_with_the_rm(loaded_rm):
    rm = loaded_rm
    resp = "hello there, my friend"
    p = rm.score([(resp, NO_COMMA["text"])])[0]
    res = InstructionReward(rm=rm, rm_for_hard=True)([NO_COMMA], resp)
    assert res.components == pytest.approx([p], abs=1e-5)
    with pytest.raises(ValueError, match="needs a reward model"):
        InstructionReward(rm=None, rm_for_hard=True)


def test_loose_and_graded_hard_scores():
    resp = "Sure, here it is:\n" + PLAIN
    assert InstructionReward()([LOWER], resp).total == 0.0
    assert InstructionReward(loose=True)([LOWER], resp).total == 1.0  # first line dropped
    g = registry.graded(WORDS["id"], "one two three four five six seven", WORDS["kwargs"])
    assert g is not None and 0.0 < g < 1.0
    graded = InstructionReward(graded_hard=True)([WORDS], "one two three four five six seven")
    assert graded.components == [pytest.approx(g)]
    assert InstructionReward()([WORDS], "one two three four five six seven").components == [0.0]


def test_empty_response_scores_zero_everywhere(loaded_rm):
    for resp in ("", "   \n "):
        res = InstructionReward(rm=loaded_rm)([LOWER, TONE], resp)
        assert res.components == [0.0, 0.0] and res.total == 0.0


def test_bad_rows_raise_value_errors_at_validation_time(loaded_rm):
    reward = InstructionReward(rm=loaded_rm)
    with pytest.raises(ValueError, match="unknown constraint id 'nope:nothing'"):
        reward.validate([{"id": "nope:nothing", "kind": "hard", "kwargs": {}, "text": ""}])
    with pytest.raises(ValueError, match="malformed"):
        reward.validate([{"kind": "hard"}])
    with pytest.raises(ValueError, match="num_words"):
        reward.validate([{**WORDS, "kwargs": {"relation": "less than"}}])
    with pytest.raises(ValueError, match="soft constraints .*need a reward model"):
        InstructionReward().validate([TONE])
    rows = [{"constraints": [NO_COMMA]}, {"constraints": [NO_COMMA, {"id": "x:y", "kind": "soft"}]}]
    with pytest.raises(ValueError, match="dataset row 1"):
        validate_dataset(rows, reward)


def _call_like_grpo_trainer(reward_func, inputs, prompts, completions):
    """Mirror trl 1.x GRPOTrainer._calculate_rewards: every non-prompt column as a list + hooks."""
    keys = [k for k in inputs[0] if k not in ("prompt", "completion", "completion_ids")]
    reward_kwargs = {k: [ex[k] for ex in inputs] for k in keys}
    logged: dict[str, list[float]] = defaultdict(list)
    extra: dict[str, list] = defaultdict(list)
    reward_kwargs["trainer_state"] = None
    reward_kwargs["log_extra"] = lambda col, vals: extra[col].extend(vals)
    reward_kwargs["log_metric"] = lambda name, v: logged[name].append(v)
    out = reward_func(prompts=prompts, completions=completions, completion_ids=[[1, 2]] * len(prompts), **reward_kwargs)
    return out, logged


def test_trl_adapter_with_string_and_conversational_completions(loaded_rm):
    from datasets import Dataset

    # A real datasets round trip: kwargs structs get every key any row uses, filled with None.
    ds = Dataset.from_list([
        {"prompt": "Say hi. Do not use any commas.", "constraints": [NO_COMMA, TONE]},
        {"prompt": "Count. Answer with less than 5 words.", "constraints": [WORDS]},
    ])  # fmt: skip
    assert ds[0]["constraints"][0]["kwargs"] == {"num_words": None, "relation": None}
    inputs = [ds[0], ds[1]]
    reward = InstructionReward(rm=loaded_rm)
    fn = make_trl_reward(reward)
    assert fn.__name__ == "selfif_instruction_reward"
    texts = ["hi there friend", "one, two, three, four, five, six"]
    expected = [reward([NO_COMMA, TONE], texts[0]).total, reward([WORDS], texts[1]).total]

    out, logged = _call_like_grpo_trainer(fn, inputs, [ex["prompt"] for ex in inputs], texts)
    assert out == pytest.approx(expected, abs=1e-6)
    assert set(logged) >= {"constraint_reward/hard", "constraint_reward/soft", "constraint_reward/empty_response_rate"}
    assert logged["constraint_reward/hard"] == [pytest.approx(0.5)]  # no_comma 1, words 0

    conv_prompts = [[{"role": "user", "content": ex["prompt"]}] for ex in inputs]
    conv = [[{"role": "assistant", "content": t}] for t in texts]
    out2, _ = _call_like_grpo_trainer(fn, inputs, conv_prompts, conv)
    assert out2 == pytest.approx(expected, abs=1e-6)
    assert fn.last_metrics["hard"] == pytest.approx(0.5)


def test_trl_adapter_needs_the_constraints_column():
    fn = make_trl_reward(InstructionReward())
    with pytest.raises(ValueError, match="constraints"):
        fn(prompts=["p"], completions=["c"], completion_ids=[[1]])


def test_verl_compute_score_reads_ground_truth_or_extra_info(monkeypatch):
    reward = InstructionReward()
    fn = make_verl_compute_score(reward)
    resp = PLAIN
    assert fn("selfif", resp, [NO_COMMA, LOWER]) == 1.0
    assert fn("selfif", resp, json.dumps([NO_COMMA, LOWER])) == 1.0
    assert fn("selfif", "Hello, World", None, {"constraints": [NO_COMMA, LOWER]}) == 0.0
    import numpy as np  # verl's parquet rows hold lists as numpy object arrays

    assert fn("selfif", PLAIN, np.array([NO_COMMA, LOWER], dtype=object)) == 1.0
    monkeypatch.delenv("SELFIF_RM_URL", raising=False)
    monkeypatch.delenv("SELFIF_RM_DIR", raising=False)
    assert compute_score("selfif", resp, {"constraints": [NO_COMMA]}) == 1.0


def test_reward_through_rm_client_equals_in_process(loaded_rm):
    srv = ServerThread(loaded_rm, free_port()).start()
    try:
        resp = "Ahoy, matey! what a sunny day"
        local = InstructionReward(rm=loaded_rm)
        with RMClient(srv.url, retries=2) as client:
            remote = InstructionReward(rm=client)
            rows = [([TONE, NO_COMMA], resp, None), ([ROLE, LOWER], "arr", "Say arr.")]
            want = [r.total for r in local.score_batch(rows)]
            got = [r.total for r in remote.score_batch(rows)]
            assert got == pytest.approx(want, abs=1e-4)
            fn = make_verl_compute_score(remote)
            assert fn("selfif", resp, [TONE, NO_COMMA]) == pytest.approx(want[0], abs=1e-4)
    finally:
        srv.stop()


def test_from_config_maps_the_reward_section():
    from selfif.config import RewardConfig

    r = InstructionReward.from_config(RewardConfig(loose=True, graded_hard=True))
    assert r.rm is None and r.loose and r.graded_hard and not r.binary
    c = InstructionReward.from_config(RewardConfig(rm_url="http://127.0.0.1:9", binary=True))
    assert isinstance(c.rm, RMClient) and c.binary
