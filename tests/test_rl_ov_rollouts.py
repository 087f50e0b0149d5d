"""OpenVINO GRPO rollouts (train.rollout_backend): new weights handed over in memory, with the real
packaged policy and the real engine."""

from __future__ import annotations

import copy

import pytest

from selfif.generation import openvino as ov
from selfif.config import TrainConfig
from selfif.rl.ov_rollouts import OpenVINORollouts, unsupported, wants_openvino

pytestmark = [pytest.mark.usefixtures("one_thread"),
              pytest.mark.skipif(not ov.available(), reason="openvino-genai is not installed")]

PROMPTS = ["Name a fruit.", "Say hello in French.", "Describe a cat in one sentence."]


def _kwargs(tok, **over):
    kw = {"max_new_tokens": 12, "do_sample": True, "temperature": 1.0, "top_p": 1.0, "top_k": 0, "min_p": None,
          "repetition_penalty": 1.0, "eos_token_id": [tok.eos_token_id], "pad_token_id": tok.pad_token_id}
    return kw | over


def _ids(tok, prompts=PROMPTS):
    from selfif.models import chat_prompt

    return [tok(chat_prompt(tok, p), add_special_tokens=False)["input_ids"] for p in prompts]


@pytest.fixture(scope="module")
def moved(policy):
    """The packaged policy with every weight moved (a stand-in for training steps), and its tokenizer."""
    import torch

    model, tok = policy
    model = copy.deepcopy(model)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.01)
    return model, tok


@pytest.fixture(scope="module")
def engine(policy):
    model, tok = policy
    r = OpenVINORollouts(copy.deepcopy(model), tok, "fp32", threads=1)
    yield r
    r.close()


def test_new_weights_in_memory_give_hf_greedy_text(engine, moved):
    """After a sync the engine holds the moved weights: its greedy answers are HF generate's on that model."""
    import openvino as ov_rt
    import openvino_genai as og
    import torch

    model, tok = moved
    assert engine.sync(model, step=1) > 0
    cfg = og.GenerationConfig()
    cfg.max_new_tokens, cfg.do_sample = 16, False
    for ids in _ids(tok):
        x = torch.tensor([ids])
        got = list(engine.pipe.generate(og.TokenizedInputs(ov_rt.Tensor(x.numpy()), ov_rt.Tensor(torch.ones_like(x).numpy())), cfg).tokens[0])
        with torch.no_grad():
            want = model.generate(x, max_new_tokens=16, do_sample=False, pad_token_id=tok.pad_token_id)[0, len(ids):].tolist()
        assert got[: len(want)] == want
    assert engine.sync(model, step=1) == 0.0  # same step: nothing reloaded


def test_sampled_rollouts_are_seeded_and_end_like_trls(engine, policy):
    model, tok = policy
    engine.sync(model, step=0)
    ids = _ids(tok) * 2
    a = engine.generate(ids, _kwargs(tok), seed=7)
    assert a == engine.generate(ids, _kwargs(tok), seed=7)
    assert a != engine.generate(ids, _kwargs(tok), seed=8)
    for row in a:  # cut after the first end token, as TRL's HF path returns them
        assert 0 < len(row) <= 12 and tok.eos_token_id not in row[:-1]
    assert all(len(r) == 12 for r in engine.generate(ids, _kwargs(tok, min_new_tokens=12), seed=7))
    group = engine.generate(_ids(tok, PROMPTS[:1]) * 4, _kwargs(tok, min_new_tokens=12), seed=7)
    assert len({tuple(r) for r in group}) > 1  # a GRPO group of one prompt: distinct completions


def test_a_layout_it_cannot_place_is_an_error(policy):
    """Two RMSNorm weights with equal values cannot be told apart in the IR: the build refuses."""
    import torch

    from selfif.generation.openvino_weights import LayoutError, WeightTemplate

    from selfif.models import resolve

    model, tok = policy
    model = copy.deepcopy(model)
    with torch.no_grad():
        model.model.layers[1].input_layernorm.weight.copy_(model.model.layers[0].input_layernorm.weight)
    with pytest.raises(LayoutError, match="matches 2 policy tensors"):
        WeightTemplate.build(model, resolve("smollm2-135m"), ov.engine_properties("fp32", 1))


def test_which_runs_it_serves(policy):
    model, tok = policy
    assert not wants_openvino("auto", use_vllm=False)  # HF generate until OpenVINO's learning is measured
    assert wants_openvino("openvino", use_vllm=False)
    assert not wants_openvino("openvino", use_vllm=True)
    assert not wants_openvino("transformers", use_vllm=False)
    assert unsupported(model, tok, _kwargs(tok)) is None
    assert "min_p" in unsupported(model, tok, _kwargs(tok, min_p=0.1))
    assert "no_repeat_ngram_size" in unsupported(model, tok, _kwargs(tok, no_repeat_ngram_size=3))
    with pytest.raises(ValueError, match="rollout_backend"):
        TrainConfig(rollout_backend="vllm")


def test_grpo_on_cpu_rolls_out_with_openvino(tmp_path):
    from selfif.reward import InstructionReward
    from selfif.rl.trainer import train_policy
    from test_rl_train import tiny_config, write_curriculum

    cur = write_curriculum(tmp_path / "curriculum.jsonl", levels=1)
    cfg = tiny_config(2).model_copy(update={"rollout_backend": "openvino"})
    summary = train_policy(cfg, cur, tmp_path / "policy", reward=InstructionReward(rm=None, graded_hard=True), plots=False)
    assert summary["rollout_backend"] == "openvino" and summary["rollout_copy"] == "off" and summary["global_step"] == 2
    assert all(s["weights_sync_s"] > 0 for s in summary["steps"])  # new weights at every step
    assert all(s["mean_completion_length"] > 0 for s in summary["steps"])

    cfg = tiny_config(1).model_copy(update={"rollout_backend": "openvino", "grpo_args": {"min_p": 0.1}})
    with pytest.raises(ValueError, match="min_p"):
        train_policy(cfg, cur, tmp_path / "policy2", reward=InstructionReward(rm=None), plots=False)
