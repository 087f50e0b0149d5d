"""Repair-then-supervise warm-start (selfif.rl.warmstart) with the real packaged policy and repairs.

Four short-answer prompts that ask for a quoted reply (which the base policy never gives): the
policy answers, the quotation repair wraps the answers, the policy is fine-tuned on them, and
GRPO starts from the fine-tuned weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfif.config import TrainConfig, WarmstartConfig

QUOTE = {"id": "startend:quotation", "kind": "hard", "kwargs": {}, "text": "Wrap your entire response with double quotation marks."}
SEEDS = ["What color is the sky? One word.", "Name one fruit. One word only.", "What is 2+2? Answer briefly.", "Say hello."]


def write_curriculum(path: Path) -> Path:
    rows = [
        {"seed_id": f"s{i}", "level": 1, "prompt": f"{seed} {QUOTE['text']}", "seed_text": seed, "constraints": [QUOTE]}
        for i, seed in enumerate(SEEDS)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_warmstart_then_grpo(tmp_path, policy_path, one_thread):
    import torch
    from safetensors.torch import load_file

    from selfif.constraints import registry
    from selfif.reward import InstructionReward
    from selfif.rl.trainer import WARMSTART_DIR, train_policy
    from selfif.rl.warmstart import DATA_FILE, MODEL_DIR, generate_answers, run_warmstart

    ws = WarmstartConfig(enabled=True, n_prompts=4, epochs=1, batch_size=2, max_new_tokens=32, temperature=0.7, learning_rate=1e-4)
    cfg = TrainConfig(schedule="mixed", max_steps=1, num_generations=2, per_device_train_batch_size=2, max_completion_length=8,
                      save_steps=5, report_to=["none"], warmstart=ws)  # fmt: skip
    out = tmp_path / "policy"
    summary = train_policy(cfg, write_curriculum(tmp_path / "c.jsonl"), out, reward=InstructionReward(), plots=False)

    wdir = out / WARMSTART_DIR
    records = [json.loads(x) for x in (wdir / DATA_FILE).read_text().splitlines()]
    assert len(records) == 4 and {r["prompt"] for r in records} == {f"{s} {QUOTE['text']}" for s in SEEDS}
    for r in records:
        assert r["constraints"] == [QUOTE["id"]] and set(r) >= {"prompt", "original", "repaired", "status"}
        if r["status"] in ("repaired", "already_ok"):
            assert registry.verify(QUOTE["id"], r["repaired"])
        else:
            assert r["repaired"] is None and r["status"] in ("truncated", "unrepairable")
    warm = summary["warmstart"]
    kept = sum(r["status"] in ("repaired", "already_ok") for r in records)
    assert kept >= 1 and warm["examples"] == kept and warm["updates"] == -(-kept // 2)
    assert warm["per_type"][QUOTE["id"]]["answers"] == 4
    assert warm["per_type"][QUOTE["id"]]["repairable_alone"] == sum(QUOTE["id"] in r["repairable_alone"] for r in records)
    assert summary["global_step"] == 1
    assert warm["validation"] is None  # validation_seeds 0: every seed may be drawn, nothing held out

    # the supervised step moved the weights, and GRPO started from them (not from the base policy)
    base = load_file(str(Path(policy_path) / "model.safetensors"))
    warm_w = load_file(str(wdir / MODEL_DIR / "model.safetensors"))
    assert any(not torch.equal(base[k], warm_w[k]) for k in base if k in warm_w)

    # done means skipped: same config, same rows -> the stored summary comes back, nothing reruns
    from selfif.rl.dataset import read_curriculum

    rows = read_curriculum(tmp_path / "c.jsonl")
    mtime = (wdir / MODEL_DIR / "model.safetensors").stat().st_mtime_ns
    again = run_warmstart(ws, rows, "smollm2-135m", wdir)
    assert again["wall_s"] == warm["wall_s"] and (wdir / MODEL_DIR / "model.safetensors").stat().st_mtime_ns == mtime

    # an interrupted answer file resumes: kept records stay, only the missing answers are generated
    lines = (wdir / DATA_FILE).read_text().splitlines()
    (wdir / DATA_FILE).write_text("\n".join(lines[:2]) + "\n" + lines[2][:10])  # two whole records and a torn one
    from selfif.rl.warmstart import select_prompts

    resumed = generate_answers(ws, "smollm2-135m", select_prompts(ws, rows), wdir / DATA_FILE)
    assert len(resumed) == 4 and [json.dumps(r) for r in resumed[:2]] == [json.dumps(json.loads(x)) for x in lines[:2]]


def test_validation_seeds_are_never_trained_on_and_both_pass_rates_are_reported(tmp_path, policy_path, one_thread):
    from selfif.constraints import registry
    from selfif.report import _warmstart_section
    from selfif.rl.dataset import read_curriculum
    from selfif.rl.warmstart import DATA_FILE, VALIDATION_FILE, run_warmstart, validation_seeds

    rows = read_curriculum(write_curriculum(tmp_path / "c.jsonl"))
    ws = WarmstartConfig(enabled=True, n_prompts=4, epochs=1, batch_size=2, max_new_tokens=16, validation_seeds=0.5)
    held = validation_seeds(ws, rows)
    assert len(held) == 2 and held == validation_seeds(ws, rows)  # seeded
    summary = run_warmstart(ws, rows, "smollm2-135m", tmp_path / "ws")

    answered = {json.loads(x)["prompt"] for x in (tmp_path / "ws" / DATA_FILE).read_text().splitlines()}
    held_prompts = {r["prompt"][-1]["content"] for r in rows if r["seed_id"] in held}
    assert len(answered) == 2 and not answered & held_prompts  # n_prompts 4, but two seeds are held out
    records = [json.loads(x) for x in (tmp_path / "ws" / VALIDATION_FILE).read_text().splitlines()]
    assert {r["prompt"] for r in records if r["set"] == "held_out"} == held_prompts
    assert {r["prompt"] for r in records if r["set"] == "trained"} == answered
    val = summary["validation"]
    for name in ("trained", "held_out"):
        mine = [r for r in records if r["set"] == name]
        assert all(r["verdicts"] == [registry.verify(QUOTE["id"], r["answer"])] for r in mine)
        passed = sum(all(r["verdicts"]) for r in mine)
        assert val[name]["prompts"] == 2 and val[name]["passed"] == passed and val[name]["pass_rate"] == passed / 2
        assert val[name]["per_type"] == {QUOTE["id"]: {"passed": passed, "prompts": 2}}
    assert val["seeds_held_out"] == 2
    section = _warmstart_section(summary)  # the run report's warm-start section
    assert "2 held-out seeds" in section and f"| {val['held_out']['passed']}/2 |" in section


def test_warmstart_types_draw_only_rows_with_those_constraints():
    from selfif.config import WarmstartConfig
    from selfif.constraints.registry import ConstraintError
    from selfif.rl.warmstart import select_prompts

    def row(i, *ids):
        return {"row": i, "prompt": [{"role": "user", "content": f"q{i}"}],
                "constraints": [{"id": t, "kind": "hard", "kwargs": {}} for t in ids]}

    rows = [row(0, "change_case:english_lowercase"), row(1, "punctuation:no_comma"),
            row(2, "startend:quotation", "punctuation:no_comma"), row(3, "language:response_language")]
    assert {r["row"] for r in select_prompts(WarmstartConfig(n_prompts=10), rows)} == {0, 1, 2}  # 3: no repair exists
    picked = select_prompts(WarmstartConfig(n_prompts=10, types=["change_case:english_lowercase", "startend:quotation"]), rows)
    assert sorted(r["row"] for r in picked) == [0, 2]
    with pytest.raises(ConstraintError, match="no:such"):
        select_prompts(WarmstartConfig(types=["no:such"]), rows)
    with pytest.raises(ValueError, match="no curriculum row has a repairable hard constraint of combination:repeat_prompt"):
        select_prompts(WarmstartConfig(types=["combination:repeat_prompt"]), rows)


def test_keep_truncated_keeps_prefixes_only_where_no_constraint_needs_the_end(policy_path):
    from transformers import AutoTokenizer

    from selfif.constraints import registry
    from selfif.rl.warmstart import _examples, judge, summarize_records

    lower = {"id": "change_case:english_lowercase", "kind": "hard", "kwargs": {}}
    row = {"row": 0, "prompt": [{"role": "user", "content": "Tell me about the sea. Use only lowercase letters."}],
           "constraints": [lower]}
    both = {**row, "row": 1, "constraints": [lower, QUOTE]}
    cut = "The sea covers most of the Earth and it is Home to many"  # an answer the cap cut off
    assert judge(row, cut, truncated=True)["status"] == "truncated"  # the default: dropped
    kept = judge(row, cut, truncated=True, keep_truncated=True)
    assert kept["status"] == "repaired" and kept["prefix"] is True
    assert kept["repaired"] == cut.lower() and registry.verify(lower["id"], kept["repaired"])
    # a closing quote cannot be judged on a prefix: still dropped
    assert judge(both, cut, truncated=True, keep_truncated=True)["status"] == "truncated"
    finished = judge(row, cut + " fish.", truncated=False, keep_truncated=True)
    assert finished["status"] == "repaired" and "prefix" not in finished

    tok = AutoTokenizer.from_pretrained(policy_path)
    (ids_prefix, plen_prefix), (ids_done, plen_done) = _examples([kept, finished], tok)
    assert ids_prefix[-1] != tok.eos_token_id and ids_done[-1] == tok.eos_token_id  # a prefix teaches no stop
    assert tok.decode(ids_prefix[plen_prefix:]) == cut.lower()
    assert summarize_records([kept, finished])["prefix_targets"] == 1
