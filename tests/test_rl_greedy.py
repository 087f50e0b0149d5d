"""One greedy completion per GRPO group (train.greedy_member) and the looping rule (train.looping_fails),
with the real packaged policy, the real reward and the real engines."""

from __future__ import annotations

import copy
import random
import json

import pytest

from selfif.generation import openvino as ov
from selfif.rl.greedy import fail_looping, greedy_kwargs, heads, interleave, looping_share

pytestmark = pytest.mark.usefixtures("one_thread")

LOOP = "I saw a dog. " * 30


def test_pieces():
    kw = {"max_new_tokens": 8, "do_sample": True, "temperature": 0.7, "top_p": 0.9, "top_k": 0, "min_p": None,
          "eos_token_id": [2], "min_new_tokens": 8, "repetition_penalty": 1.0}
    g = greedy_kwargs(kw)
    assert g == {"max_new_tokens": 8, "do_sample": False, "eos_token_id": [2], "min_new_tokens": 8, "repetition_penalty": 1.0}
    assert kw["do_sample"] is True  # the trainer's own kwargs are left alone
    assert heads(8, 4) == [0, 4]
    with pytest.raises(ValueError, match="groups of 4"):
        heads(6, 4)
    assert interleave(6, [0, 3], ["g0", "g1"], ["a", "b", "c", "d"]) == ["g0", "a", "b", "g1", "c", "d"]
    with pytest.raises(ValueError):
        interleave(6, [0, 3], ["g0", "g1"], ["a"])
    assert looping_share([LOOP, "fine", "fine", LOOP], [0, 2]) == 0.5 and looping_share([LOOP], []) is None


def test_looping_fails_zeroes_a_looping_completion_in_the_real_reward():
    from selfif.constraints import registry
    from selfif.reward import InstructionReward
    from selfif.rl.reward import trl_reward_with_levels

    no_comma = registry.get("punctuation:no_comma").instance(random.Random(0), kwargs={}).model_dump(mode="json")
    rows = [json.dumps([no_comma])] * 2
    completions = [[{"role": "assistant", "content": LOOP}], [{"role": "assistant", "content": "A short answer."}]]
    logged = {}
    for flag in (False, True):
        fn = trl_reward_with_levels(InstructionReward(rm=None), looping_fails=flag)
        out = fn(prompts=[[{"role": "user", "content": "Say it without commas."}]] * 2, completions=completions,
                 constraints=rows, level=[1, 1], log_metric=lambda k, v: logged.__setitem__(k, v))
        assert out[1] == 1.0
        assert out[0] == (0.0 if flag else 1.0)  # the loop has no comma: it passes unless looping fails it
    assert logged["looping/zeroed"] == 0.5
    res = [type("R", (), {"components": [1.0, 0.5], "total": 0.75})()]
    totals, zeroed = fail_looping([0.75], res, [LOOP])
    assert (totals, zeroed, res[0].components, res[0].total) == ([0.0], 1, [0.0, 0.0], 0.0)


def test_each_groups_first_completion_is_the_policys_greedy_answer(tmp_path, policy, monkeypatch):
    """A real fp32 GRPO step: TRL's generate is called once sampled (3 of 4 per group) and once greedily
    (the rest), and the greedy completions are what HF generate gives the starting policy greedily."""
    import torch
    from trl import GRPOTrainer

    from selfif.reward import InstructionReward
    from selfif.rl.trainer import train_policy
    from test_rl_train import tiny_config, write_curriculum

    calls = []
    original = GRPOTrainer._generate_single_turn

    def record(self, prompt_ids, *a, **k):
        ids, lp = original(self, prompt_ids, *a, **k)
        calls.append((self.generation_config.do_sample, [list(p) for p in prompt_ids], ids))
        return ids, lp

    monkeypatch.setattr(GRPOTrainer, "_generate_single_turn", record)
    cur = write_curriculum(tmp_path / "curriculum.jsonl", levels=1)
    cfg = tiny_config(1).model_copy(update={"precision": "fp32", "rollout_backend": "transformers", "greedy_member": True,
                                            "looping_fails": True, "num_generations": 4, "per_device_train_batch_size": 8})
    summary = train_policy(cfg, cur, tmp_path / "out", reward=InstructionReward(rm=None, graded_hard=True), plots=False)
    assert [c[0] for c in calls] == [True, False] and (len(calls[0][1]), len(calls[1][1])) == (6, 2)
    assert summary["steps"][0]["greedy_looping"] is not None

    model, tok = policy
    for prompt, got in zip(calls[1][1], calls[1][2], strict=True):
        with torch.no_grad():
            want = model.generate(torch.tensor([prompt]), max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
        want = want[0, len(prompt):].tolist()
        end = next((i for i, t in enumerate(want) if t == tok.eos_token_id), None)
        assert got == (want if end is None else want[: end + 1])



@pytest.mark.skipif(not ov.available(), reason="openvino-genai is not installed")
def test_openvino_rollouts_decode_greedily_when_told(policy):
    import torch

    from selfif.models import chat_prompt
    from selfif.rl.ov_rollouts import OpenVINORollouts

    model, tok = policy
    eng = OpenVINORollouts(copy.deepcopy(model), tok, "fp32", threads=1)
    try:
        eng.sync(model, step=0)
        kw = {"max_new_tokens": 12, "do_sample": True, "temperature": 1.0, "top_p": 1.0, "eos_token_id": [tok.eos_token_id],
              "pad_token_id": tok.pad_token_id}
        # ("Say hello." is a near tie at its second token, where OpenVINO's fp32 kernels pick the other word)
        ids = [tok(chat_prompt(tok, p), add_special_tokens=False)["input_ids"] for p in ("Name a fruit.", "Describe a cat in one sentence.")]
        greedy = eng.generate(ids, greedy_kwargs(kw), seed=1)
        assert greedy == eng.generate(ids, greedy_kwargs(kw), seed=2)  # no sampling: the seed does not matter
        for prompt, got in zip(ids, greedy, strict=True):
            with torch.no_grad():
                want = model.generate(torch.tensor([prompt]), max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
            want = want[0, len(prompt):].tolist()
            end = next((i for i, t in enumerate(want) if t == tok.eos_token_id), None)
            assert got == (want if end is None else want[: end + 1])
    finally:
        eng.close()
