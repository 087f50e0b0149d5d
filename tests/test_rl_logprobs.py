"""The unfused log-probability head (train.logprob_head), against TRL's fused head, with the real packaged policy."""

from __future__ import annotations

import copy

import pytest

from selfif.config import TrainConfig
from selfif.rl.logprobs import completion_logps, wants_unfused

pytestmark = pytest.mark.usefixtures("one_thread")


def test_auto_is_unfused_on_a_cpu_only():
    assert wants_unfused("auto", on_cpu=True)
    assert not wants_unfused("auto", on_cpu=False)  # GPUs keep TRL's memory-saving head
    assert wants_unfused("unfused", on_cpu=False)
    assert not wants_unfused("fused", on_cpu=True)
    with pytest.raises(ValueError, match="logprob_head"):
        TrainConfig(logprob_head="tiled")


def _batch(tok, k: int):
    """Two left-padded prompts, each with k completion tokens; the second completion ends early (right padding)."""
    import torch

    prompts = [tok("Name a fruit and say why it is good.")["input_ids"], tok("Hi.")["input_ids"]]
    width = max(map(len, prompts))
    g = torch.Generator().manual_seed(0)
    ids, mask = [], []
    for i, p in enumerate(prompts):
        completion = torch.randint(100, 20000, (k,), generator=g).tolist()
        real = k if i == 0 else k - 3
        ids.append([tok.pad_token_id] * (width - len(p)) + p + completion[:real] + [tok.pad_token_id] * (k - real))
        mask.append([0] * (width - len(p)) + [1] * (len(p) + real) + [0] * (k - real))
    return torch.tensor(ids), torch.tensor(mask)


def _fused(model, ids, mask, k, temperature):
    """TRL's own computation, as GRPOTrainer calls it."""
    from trl.trainer.utils import add_fused_lm_head

    add_fused_lm_head(model, temperature=temperature, outputs=("log_probs", "entropy"))
    labels = ids.masked_fill(mask == 0, -100)
    labels[:, :-k] = -100
    out = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True)
    return out.log_probs[:, -k:], out.entropy[:, -k:]


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_matches_trls_fused_head_values_and_gradients(policy, temperature):
    import torch

    model, tok = policy
    ours_model, trl_model = copy.deepcopy(model).train(), copy.deepcopy(model).train()
    k = 6
    ids, mask = _batch(tok, k)

    lp, ent = completion_logps(ours_model, ids, mask, k, temperature=temperature, compute_entropy=True, batch_size=1)
    ref_lp, ref_ent = _fused(trl_model, ids, mask, k, temperature)
    assert lp.shape == ref_lp.shape == (2, k)
    assert torch.allclose(lp, ref_lp, atol=1e-4, rtol=1e-4), (lp - ref_lp).abs().max()
    assert torch.allclose(ent, ref_ent, atol=1e-3)  # a metric: two fp32 sums over 49,152 terms, (ent - ref_ent).abs().max()
    assert (lp[1, -3:] == 0).all() and (ent[1, -3:] == 0).all()  # padded positions are 0, as in TRL
    assert not ent.requires_grad  # the entropy metric needs no backward

    weights = torch.linspace(0.5, 1.5, lp.numel()).view_as(lp)  # any loss that weighs positions differently
    (lp * weights).sum().backward()
    (ref_lp * weights).sum().backward()
    for (name, a), (_, b) in zip(ours_model.named_parameters(), trl_model.named_parameters(), strict=True):
        assert a.grad is not None and b.grad is not None, name
        assert torch.allclose(a.grad, b.grad, atol=1e-4, rtol=1e-3), (name, (a.grad - b.grad).abs().max())


def test_bf16_autocast_stays_close_and_entropy_carries_gradients_when_asked(policy):
    import torch

    model, tok = policy
    m = copy.deepcopy(model).train()
    k = 6
    ids, mask = _batch(tok, k)
    ref, _ = completion_logps(m, ids, mask, k)
    lp, ent = completion_logps(m, ids, mask, k, compute_entropy=True, entropy_grad=True,
                               autocast=lambda: torch.autocast("cpu", dtype=torch.bfloat16))
    assert lp.dtype == torch.float32 and ent.requires_grad
    real = mask[:, -k:].bool()
    assert (lp[real] - ref[real]).abs().max() < 0.25  # bf16 logits: rounding, not a different quantity
    ent.sum().backward()
    assert m.lm_head.weight.grad is not None and m.lm_head.weight.grad.abs().sum() > 0


def test_a_grpo_step_on_the_cpu_uses_it_and_logs_what_trls_head_logs(tmp_path, monkeypatch):
    """One fp32 step each way, same seed and rollouts: TRL's kernel runs only when asked for, and both
    ways log the same entropy (both heads compute it) and reward."""
    from trl.trainer import utils as trl_utils

    from selfif.reward import InstructionReward
    from selfif.rl.trainer import train_policy
    from test_rl_train import tiny_config, write_curriculum

    kernel = trl_utils._ChunkedLogProbFunction
    calls = []
    monkeypatch.setattr(kernel, "apply", lambda *a, _apply=kernel.apply: calls.append(1) or _apply(*a))
    cur = write_curriculum(tmp_path / "curriculum.jsonl", levels=1)
    runs, kernel_calls = {}, {}
    for head in ("auto", "fused"):
        calls.clear()
        cfg = tiny_config(1).model_copy(update={"precision": "fp32", "rollout_backend": "transformers", "logprob_head": head})
        runs[head] = train_policy(cfg, cur, tmp_path / head, reward=InstructionReward(rm=None, graded_hard=True), plots=False)
        kernel_calls[head] = len(calls)
    assert runs["auto"]["logprob_head"] == "unfused" and runs["fused"]["logprob_head"] == "fused"
    assert kernel_calls["auto"] == 0 and kernel_calls["fused"] > 0
    ours, trls = runs["auto"]["steps"][0], runs["fused"]["steps"][0]
    assert ours["reward"] == trls["reward"]  # same rollouts
    assert ours["entropy"] == pytest.approx(trls["entropy"], abs=1e-3)
