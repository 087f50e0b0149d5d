"""The bf16 rollout copy of the policy (train.rollout_copy), with the real packaged policy."""

from __future__ import annotations

import copy
import logging
import types

import pytest

from selfif.config import TrainConfig
from selfif.rl.rollout_copy import Bf16RolloutCopy, wants_rollout_copy

pytestmark = pytest.mark.usefixtures("one_thread")


def test_when_the_copy_is_used():
    assert wants_rollout_copy("auto", bf16_training=True, on_cpu=True, use_vllm=False)
    assert not wants_rollout_copy("auto", bf16_training=True, on_cpu=False, use_vllm=False)  # GPUs: as before
    assert wants_rollout_copy("bf16", bf16_training=True, on_cpu=False, use_vllm=False)
    assert not wants_rollout_copy("auto", bf16_training=False, on_cpu=True, use_vllm=False)  # fp32 rolls out in fp32
    assert not wants_rollout_copy("bf16", bf16_training=True, on_cpu=True, use_vllm=True)  # vLLM has its own weights
    assert not wants_rollout_copy("off", bf16_training=True, on_cpu=True, use_vllm=False)
    with pytest.raises(ValueError, match="rollout_copy"):
        TrainConfig(rollout_copy="fp16")


def test_copy_is_bf16_follows_the_policy_per_step_and_drops_the_autocast_wrapper(policy):
    import torch

    model, tok = policy
    policy_model = copy.deepcopy(model)  # the session fixture stays untouched
    wrapped_calls = []

    def autocast_forward(self, *a, **k):  # what accelerate installs on a prepared model, as instance attributes
        wrapped_calls.append(1)
        return self._original_forward(*a, **k)

    policy_model._original_forward = policy_model.forward
    policy_model.forward = types.MethodType(autocast_forward, policy_model)

    rc = Bf16RolloutCopy(policy_model)
    params = dict(rc.model.named_parameters())
    assert params and all(p.dtype == torch.bfloat16 and not p.requires_grad for p in params.values())
    assert all(p.dtype == torch.float32 for p in policy_model.parameters())  # the master weights stay fp32
    name, src = next(iter(policy_model.named_parameters()))
    assert torch.equal(params[name], src.detach().to(torch.bfloat16))

    rc.sync(policy_model, step=0)
    with torch.no_grad():
        src.add_(1.0)  # an optimizer step
    rc.sync(policy_model, step=0)  # same step: nothing copied
    assert not torch.equal(params[name], src.detach().to(torch.bfloat16))
    rc.sync(policy_model, step=1)
    assert torch.equal(params[name], src.detach().to(torch.bfloat16))

    ids = tok("Name a fruit.", return_tensors="pt")
    out = rc.model.generate(**ids, max_new_tokens=4, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] > ids["input_ids"].shape[1] and not wrapped_calls  # generated, without the autocast wrapper


def test_bf16_grpo_on_cpu_rolls_out_from_the_copy(tmp_path, caplog):
    from selfif.reward import InstructionReward
    from selfif.rl.trainer import train_policy
    from test_rl_train import tiny_config, write_curriculum

    cur = write_curriculum(tmp_path / "curriculum.jsonl", levels=1)
    cfg = tiny_config(1).model_copy(update={"precision": "bf16", "rollout_backend": "transformers"})
    with caplog.at_level(logging.INFO, logger="selfif.rl.rollout_copy"):
        summary = train_policy(cfg, cur, tmp_path / "policy", reward=InstructionReward(rm=None, graded_hard=True), plots=False)
    assert summary["precision"] == "bf16" and summary["rollout_copy"] == "bf16" and summary["global_step"] == 1
    assert any("bf16 copy of the policy" in r.getMessage() for r in caplog.records)  # the copy was built at the rollout
