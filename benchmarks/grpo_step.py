"""Where a GRPO step's time goes: generation vs reward vs policy update, and rollout tokens/s.

Runs `selfif.rl.train_policy` (TRL GRPOTrainer + our curriculum sampler) once per variant, same
seeds, same prompts, one after the other, on the default packaged policy for a few steps over a
small curriculum of hard IFEval constraints:

- fp32 with HF ``generate`` and TRL's fused LM head for the loss: TRL as shipped (the baseline);
- with ``--fp32-unfused-row``, the same with our log-probability head (``train.logprob_head: unfused``);
- with ``--autocast-row``, bf16 autocast with rollouts under autocast (``train.rollout_copy: off``);
- bf16 with rollouts from a bf16 copy of the policy (``rollout_copy: auto``);
- OpenVINO rollouts at the default precision (``train.rollout_backend: openvino``; new weights
  handed to the engine every step, :mod:`selfif.rl.ov_rollouts`).

Every row but the baseline uses ``train.logprob_head: auto`` (on a CPU the loss's log-probabilities
come from the completion positions' logits, :mod:`selfif.rl.logprobs`). bf16 rows appear where the
CPU has native bf16 (``train.precision: auto`` picks it). The row marked
"(default)" is what ``train.rollout_backend: auto`` picks for this rollout shape. It reads the
timings our trainer logs per step (``timing/generation_s``, ``timing/weights_sync_s`` inside it,
``timing/reward_s``; TRL's ``step_time`` is the whole step) from ``log_history``. Update = step
time - generation - reward (loss, backward, optimizer).

By default every completion is exactly ``--max-completion-length`` tokens (``min_new_tokens`` =
max): sampled lengths differ between variants, and a step that happens to sample short answers
would otherwise look fast. ``--natural-length`` lets completions stop at EOS. Every figure printed
is measured in this run; the last line is ``speedup X.XXx``: fp32 mean step time / the default's
mean step time (step 1 excluded).

    python benchmarks/grpo_step.py                   # 8 completions of 64 tokens, 3 steps
    python benchmarks/grpo_step.py --steps 2 --completions 16 --max-completion-length 128  # cpu-2h's rollout shape
    python benchmarks/grpo_step.py --threads 1 --steps 4 --completions 16
    python benchmarks/grpo_step.py --steps 8 --lr 1e-5 --natural-length   # learning check: reward curves, same seeds
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

HARD = ["punctuation:no_comma", "change_case:english_lowercase", "length_constraints:number_words", "detectable_format:title"]
SEEDS = ["Describe a cat.", "Name three fruits.", "Say hello to a friend.", "Explain what rain is.",
         "Write a short note to a neighbour.", "Give advice for a job interview.", "Describe your city.", "Explain tides."]


def write_curriculum(path: Path) -> None:
    from selfif.constraints import registry

    rng = random.Random(0)
    rows = []
    for i, seed in enumerate(SEEDS):
        chain = [registry.get(c).instance(rng).model_dump(mode="json") for c in HARD]
        for k in range(1, len(HARD) + 1):
            rows.append({"seed_id": f"s{i}", "level": k, "prompt": " ".join([seed] + [c["text"] for c in chain[:k]]),
                         "seed_text": seed, "constraints": chain[:k]})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--completions", type=int, default=8, help="completions per step")
    ap.add_argument("--num-generations", type=int, default=4, help="GRPO group size")
    ap.add_argument("--max-completion-length", type=int, default=64)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    ap.add_argument("--lr", type=float, default=1e-6, help="learning rate (1e-5 for a learning check over a few steps)")
    ap.add_argument("--natural-length", action="store_true", help="let completions stop at EOS (default: all full length)")
    ap.add_argument("--autocast-row", action="store_true",
                    help="also run bf16 with rollouts under autocast (left out by default to stay under 4 minutes)")
    ap.add_argument("--fp32-unfused-row", action="store_true",
                    help="also run fp32 with our log-probability head (what it alone gains; left out by default)")
    args = ap.parse_args()

    import torch

    from selfif.precision import resolve_precision

    if args.threads:
        torch.set_num_threads(args.threads)
    default = resolve_precision("auto", "cuda" if torch.cuda.is_available() else "cpu")
    print(f"device: {'cuda' if torch.cuda.is_available() else 'cpu'}, torch threads: {torch.get_num_threads()}, "
          f"model: {args.model}, {args.completions} completions/step (group {args.num_generations}), "
          f"<= {args.max_completion_length} new tokens, {args.steps} steps; default precision here: {default}")
    from selfif.generation import openvino as ov
    from selfif.rl.ov_rollouts import wants_openvino

    on_ov = ov.available() and wants_openvino("auto", False)
    # name -> (precision, rollout_copy, rollout_backend, logprob_head), run in this order
    baseline = "fp32, HF generate, TRL's fused head"
    variants = {baseline: ("fp32", "off", "transformers", "fused")}  # TRL as shipped
    if args.fp32_unfused_row or default != "bf16":
        variants["fp32, HF generate"] = ("fp32", "off", "transformers", "auto")
    if default == "bf16" and args.autocast_row:
        variants["bf16, HF generate under autocast"] = ("bf16", "off", "transformers", "auto")
    copy_name = "fp32, HF generate"
    if default == "bf16":
        copy_name = "bf16, HF generate from a bf16 copy"
        variants[copy_name] = ("bf16", "auto", "transformers", "auto")
    if ov.available():
        variants[f"{default}, OpenVINO rollouts"] = (default, "auto", "openvino", "auto")
    else:
        print("openvino-genai is not installed: no OpenVINO rollout row")
    default_name = f"{default}, OpenVINO rollouts" if on_ov else copy_name  # what train.rollout_backend: auto picks here
    means = {}
    for name, (precision, rollout_copy, backend, head) in variants.items():  # same seeds, same prompts, one after the other
        print(f"--- {name}")
        means[name] = run(args, precision, rollout_copy, backend, head)
    print(f"{'variant':52s}   step s   gen s (weights)  update s  rollout tok/s")
    for name, m in means.items():
        label = name + (" (default)" if name == default_name else "")
        print(f"{label:52s} {m['total']:8.2f} {m['gen']:7.2f} {m['sync']:8.2f}  {m['update']:9.2f} {m['tokens'] / m['gen']:14.1f}")
    print(f"speedup {means[baseline]['total'] / means[default_name]['total']:.2f}x")


def run(args, precision: str, rollout_copy: str = "auto", rollout_backend: str = "auto", logprob_head: str = "auto") -> dict[str, float]:
    from selfif.config import TrainConfig
    from selfif.reward import InstructionReward
    from selfif.rl.trainer import train_policy

    cfg = TrainConfig(schedule="mixed", max_steps=args.steps, num_generations=args.num_generations,
                      per_device_train_batch_size=args.completions, max_completion_length=args.max_completion_length,
                      learning_rate=args.lr, save_steps=10**6, report_to=["none"], seed=0, precision=precision,
                      rollout_copy=rollout_copy, rollout_backend=rollout_backend, logprob_head=logprob_head,
                      grpo_args={} if args.natural_length else {"generation_kwargs": {"min_new_tokens": args.max_completion_length}})
    with tempfile.TemporaryDirectory() as tmp:
        cur = Path(tmp) / "curriculum.jsonl"
        write_curriculum(cur)
        t0 = time.perf_counter()
        summary = train_policy(cfg, cur, Path(tmp) / "out", reward=InstructionReward(rm=None), model=args.model, plots=False)
        wall = time.perf_counter() - t0
    rows = []
    for s in summary["steps"]:
        gen, rew, total = s["generation_s"], s["reward_s"], s["time_s"]
        tokens = s["mean_completion_length"] * args.completions
        rows.append({"step": s["step"], "total": total, "gen": gen, "reward": rew, "update": total - gen - rew, "tokens": tokens,
                     "reward_mean": s.get("reward"), "sync": s.get("weights_sync_s") or 0.0})
    print(f"{'step':>4} {'total s':>8} {'gen s':>7} {'(weights':>9} {'reward s':>9} {'update s':>9} {'gen tok':>8} {'tok/s':>7}")
    for r in rows:  # (weights: handing the engine the step's weights, part of gen s; OpenVINO rollouts only)
        print(f"{r['step']:>4} {r['total']:8.2f} {r['gen']:7.2f} {r['sync']:8.2f}) {r['reward']:9.4f} {r['update']:9.2f} "
              f"{r['tokens']:8.0f} {r['tokens'] / r['gen']:7.1f}")
    rest = rows[1:] or rows  # step 1 includes one-off warm-up
    mean = {k: sum(r[k] for r in rest) / len(rest) for k in ("total", "gen", "sync", "reward", "update", "tokens")}
    print(f"mean over steps {rest[0]['step']}..{rest[-1]['step']}: step {mean['total']:.2f} s = generation {mean['gen']:.2f} s "
          f"({100 * mean['gen'] / mean['total']:.0f}%) + reward {mean['reward']:.4f} s + update {mean['update']:.2f} s "
          f"({100 * mean['update'] / mean['total']:.0f}%); rollout {mean['tokens'] / mean['gen']:.1f} tokens/s")
    print(f"wall time incl. model load and saving: {wall:.1f} s; summary precision: {summary.get('precision')}, "
          f"rollout backend: {summary.get('rollout_backend')}, rollout copy: {summary.get('rollout_copy')}, "
          f"log-prob head: {summary.get('logprob_head')}")
    print(f"training reward per step ({precision}): {[round(r['reward_mean'], 3) for r in rows if r['reward_mean'] is not None]}")
    return mean


if __name__ == "__main__":
    main()
