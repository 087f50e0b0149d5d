"""GRPO on the real packaged policy: a tiny run, checkpoint, resume, final checkpoint, plots.

Sizes are the smallest that still exercise everything: 4 prompts per level, 2 completions per
prompt, 8 new tokens, one optimizer step per run. The reward is the real InstructionReward on
hard constraints with graded scores, so completions in a group get different rewards and GRPO
has a non-zero advantage to learn from.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from selfif.config import TrainConfig
from selfif.io import InputError

HARD = ["change_case:english_capital", "length_constraints:number_words", "punctuation:no_comma"]
SEEDS = ["Describe a cat.", "Name three fruits.", "Say hello to a friend.", "Explain what rain is."]


def write_curriculum(path: Path, levels: int = 2) -> Path:
    """Curriculum rows L0..L``levels`` for 4 seeds with real registry constraint instances."""
    from selfif.constraints import registry

    rng = random.Random(0)
    rows = []
    for i, seed in enumerate(SEEDS):
        chain = [registry.get(cid).instance(rng).model_dump(mode="json") for cid in HARD[:levels]]
        for k in range(levels + 1):
            prompt = " ".join([seed] + [c["text"] for c in chain[:k]])
            rows.append({"seed_id": f"s{i}", "level": k, "prompt": prompt, "seed_text": seed, "constraints": chain[:k]})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def tiny_config(max_steps: int) -> TrainConfig:
    return TrainConfig(
        schedule="ordered", level_steps=1, max_steps=max_steps, learning_rate=1e-4, weight_decay=0.0,
        num_generations=2, per_device_train_batch_size=4, max_completion_length=8, save_steps=1,
        report_to=["none"], seed=0,
    )  # fmt: skip


def _reward():
    from selfif.reward import InstructionReward

    return InstructionReward(rm=None, graded_hard=True)


def test_grpo_runs_checkpoints_and_resumes(tmp_path, policy_path, one_thread):
    import torch
    from safetensors.torch import load_file

    from selfif.models import load_policy
    from selfif.rl.callbacks import STATE_FILE
    from selfif.rl.trainer import train_policy

    cur = write_curriculum(tmp_path / "curriculum.jsonl")
    out = tmp_path / "policy"

    # run 1: one step, saved as checkpoint-1
    s1 = train_policy(tiny_config(1), cur, out, reward=_reward(), plots=False)
    assert s1["global_step"] == 1 and s1["resumed_from"] is None
    ck1 = out / "checkpoint-1"
    state1 = json.loads((ck1 / STATE_FILE).read_text())
    assert state1["consumed"] == 1 and state1["schedule_state"]["rounds"] == 1
    assert (ck1 / "optimizer.pt").exists()

    # run 2: same command asking for 2 steps continues from checkpoint-1 (not from scratch)
    s2 = train_policy(tiny_config(2), cur, out, reward=_reward())
    assert s2["resumed_from"].endswith("checkpoint-1")
    assert s2["start_step"] == 1 and s2["global_step"] == 2
    trained = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    steps = [h for h in trained["log_history"] if "reward" in h]
    assert [h["step"] for h in steps] == [1, 2]  # step 1 came from the checkpoint, step 2 is new
    # ordered, level_steps=1: the restored schedule moves on to L2 instead of replaying L1
    assert steps[0]["curriculum/active_level"] == 1.0 and steps[1]["curriculum/active_level"] == 2.0
    assert "reward_level/L2" in steps[1]
    assert json.loads((out / "checkpoint-2" / STATE_FILE).read_text())["consumed"] == 2

    # the final policy is a plain HF checkpoint whose weights moved
    final = Path(s2["final_dir"])
    assert (final / "model.safetensors").exists() and (final / "tokenizer_config.json").exists()
    before, after = load_file(str(Path(policy_path) / "model.safetensors")), load_file(str(final / "model.safetensors"))
    moved = sum(not torch.equal(before[k], after[k]) for k in before if k in after)
    assert moved > 0, "GRPO changed no weight"
    model, tok = load_policy(str(final), device="cpu")
    assert model.config.model_type == "llama" and tok.pad_token is not None

    # summary + plots
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["global_step"] == 2 and summary["hard_mean"] is not None
    assert set(summary["per_level"]) == {"L1", "L2"}
    assert summary["per_level"]["L2"]["hard_mean"] is not None and summary["per_level"]["L2"]["soft_mean"] is None
    for name in ("reward", "reward_components", "completion_length", "kl"):
        assert Path(summary["plots"][name]).stat().st_size > 1000


def test_bad_curriculum_line_is_located(tmp_path):
    from selfif.rl.dataset import read_curriculum

    cur = write_curriculum(tmp_path / "c.jsonl")
    lines = cur.read_text().splitlines()
    bad = json.loads(lines[1])
    bad["constraints"][0]["id"] = "no_such:constraint"
    lines[1] = json.dumps(bad)
    cur.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"c\.jsonl:2: .*no_such:constraint"):
        read_curriculum(cur, reward=_reward())


def test_soft_constraints_without_rm_fail_up_front(tmp_path):
    from selfif.rl.dataset import read_curriculum

    cur = tmp_path / "c.jsonl"
    row = {"seed_id": "s", "level": 1, "prompt": "Write a poem. Use a cheerful tone.", "seed_text": "Write a poem.",
           "constraints": [{"id": "soft:tone_and_emotion", "kind": "soft", "kwargs": {}, "text": "Use a cheerful tone."}]}
    cur.write_text(json.dumps(row) + "\n")
    with pytest.raises(InputError, match="c.jsonl:1: .*reward model"):
        read_curriculum(cur, reward=_reward())


def test_rows_and_columns(tmp_path):
    from selfif.rl.dataset import build_dataset, read_curriculum

    rows = read_curriculum(write_curriculum(tmp_path / "c.jsonl"), reward=_reward())
    assert [r["level"] for r in rows] == [1, 2] * 4  # level 0 dropped
    ds = build_dataset(rows)
    assert ds[0]["prompt"] == [{"role": "user", "content": rows[0]["prompt"][0]["content"]}]
    assert json.loads(ds[1]["constraints"])[1]["id"] == HARD[1]
    assert ds["row"] == list(range(8))


def test_reward_logs_components_per_level(tmp_path):
    from selfif.rl.dataset import read_curriculum
    from selfif.rl.reward import trl_reward_with_levels

    rows = read_curriculum(write_curriculum(tmp_path / "c.jsonl"), reward=_reward())[:2]  # an L1 and an L2 row
    fn = trl_reward_with_levels(_reward())
    logged: dict[str, float] = {}
    completions = [[{"role": "assistant", "content": "HELLO THERE FRIEND"}], [{"role": "assistant", "content": "hello, there"}]]
    out = fn(prompts=[r["prompt"] for r in rows], completions=completions, constraints=[r["constraints"] for r in rows],
             level=[r["level"] for r in rows], log_metric=logged.__setitem__)
    assert out[0] == 1.0  # all capitals: satisfied exactly
    assert 0.0 <= out[1] < 1.0
    assert logged["constraint_reward_level/L1/hard"] == 1.0
    assert logged["constraint_reward_level/L2/hard"] == out[1]
    assert "constraint_reward/hard" in logged  # the reward helper's own batch-level metric
