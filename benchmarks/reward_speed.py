"""Classifier reward model vs generative judge: time and accuracy on the same constraint checks.

The paper motivates its binary classifier by speed: one forward pass per (response, constraint)
instead of a generated verdict from an LLM judge (about 119-126x faster than a QwQ-32B judge).
This script measures the analogue here, on pairs of *hard* constraints so that verifier truth
exists for both accuracies:

- classifier: ``ConstraintRM.score`` (batched, length-sorted), verdict = P >= 0.5;
- judge: the default policy (SmolLM2-135M-Instruct) prompted per constraint to answer 1 or 0,
  greedy, 2 new tokens, through ``selfif.generation`` (the same generation path as every stage);
  an answer with neither a 0/1 digit nor a yes/no word counts as wrong and is reported.

Without ``--checkpoint`` it first trains a MiniLM RM on the seed-level train split of
``--pairs`` and evaluates on the hard pairs of the held-out split only; with ``--checkpoint``
it re-derives that checkpoint's held-out split from its ``metrics.json`` (same pairs file
assumed; ``--all-pairs`` to skip). Every figure printed is
measured in this run.

    python benchmarks/reward_speed.py --pairs tests/data/reward_pairs.jsonl
    python benchmarks/reward_speed.py --pairs runs/x/pairs.jsonl --checkpoint runs/x/rm
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

JUDGE_PROMPT = (
    "You check whether a response follows a constraint.\n\n"
    "Constraint: {constraint}\n\nResponse:\n{response}\n\n"
    "Does the response follow the constraint? Answer with a single digit: 1 for yes, 0 for no."
)


def parse_verdict(text: str) -> int | None:
    """First 0/1 digit or yes/no word in the answer; ``None`` when there is none."""
    m = re.search(r"(?<![0-9])([01])(?![0-9])|\b(yes|no)\b", text, flags=re.IGNORECASE)
    if not m:
        return None
    if m.group(1):
        return int(m.group(1))
    return 1 if m.group(2).lower() == "yes" else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", default="tests/data/reward_pairs.jsonl")
    ap.add_argument("--checkpoint", default=None, help="RM checkpoint; default: train a MiniLM RM here first")
    ap.add_argument("--judge", default="smollm2-135m")
    ap.add_argument("--all-pairs", action="store_true", help="with --checkpoint: use every pair, not only its held-out split")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--rm-batch-size", type=int, default=32)
    ap.add_argument("--judge-batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3, help="classifier timing: best of N runs")
    args = ap.parse_args()

    import torch

    from selfif.config import RMConfig
    from selfif.generation import SamplingParams, make_generator
    from selfif.reward.data import load_pairs, split_by_seed
    from selfif.reward.model import ConstraintRM

    torch.manual_seed(0)
    pairs = load_pairs(args.pairs)
    ckpt = args.checkpoint
    if ckpt is not None:
        # evaluate on the checkpoint's own held-out split when it was trained on these pairs
        mpath = Path(ckpt) / "metrics.json"
        if mpath.exists() and not args.all_pairs:
            conf = json.loads(mpath.read_text())["config"]
            _, pairs = split_by_seed(pairs, conf["val_fraction"], conf["seed"])
            print(f"using the held-out split of the checkpoint's training run (val_fraction {conf['val_fraction']}, seed {conf['seed']})")
    else:
        from selfif.reward.train import train_rm

        cfg = RMConfig(backbone="minilm-l6", epochs=4, batch_size=8, lr=1e-4, max_length=128, val_fraction=0.5, patience=4)
        _, pairs = split_by_seed(pairs, cfg.val_fraction, cfg.seed)
        ckpt = str(Path(tempfile.mkdtemp(prefix="reward-speed-")) / "rm")
        print(f"training a MiniLM RM on the train split of {args.pairs} -> {ckpt}")
        train_rm(args.pairs, ckpt, cfg, progress=False)
    hard = [p for p in pairs if p.verifier_label is not None]
    if args.limit:
        hard = hard[: args.limit]
    if not hard:
        raise SystemExit("no hard-constraint pairs with verifier labels to benchmark on")
    truth = [p.verifier_label for p in hard]
    print(f"{len(hard)} (response, hard constraint) checks; verifier says {sum(truth)} followed")

    rm = ConstraintRM.load(ckpt, device="cpu")
    items = [(p.response, p.constraint.text, p.instruction) for p in hard]
    rm.score(items[:2])  # warm-up (allocations, lazy init)
    rm_times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        probs = rm.score(items, batch_size=args.rm_batch_size)
        rm_times.append(time.perf_counter() - t0)
    t_rm = min(rm_times)
    rm_acc = sum(int(p >= 0.5) == y for p, y in zip(probs, truth)) / len(truth)

    gen = make_generator(args.judge, backend="transformers", device="cpu")
    prompts = [JUDGE_PROMPT.format(constraint=p.constraint.text, response=p.response) for p in hard]
    params = SamplingParams(max_new_tokens=2, temperature=0.0, batch_size=args.judge_batch_size)
    gen.generate(prompts[:2], params, progress=False)  # warm-up
    t0 = time.perf_counter()
    answers = gen.generate(prompts, params, progress=False)
    t_judge = time.perf_counter() - t0
    verdicts = [parse_verdict(a) for a in answers]
    judge_acc = sum(v == y for v, y in zip(verdicts, truth)) / len(truth)
    unparsed = sum(v is None for v in verdicts)

    n = len(hard)
    print(f"classifier ({rm.meta['backbone']}, batch {args.rm_batch_size}): {t_rm:.3f} s total, {1000 * t_rm / n:.1f} ms/check, accuracy vs verifier {rm_acc:.3f}")
    print(f"generative judge ({args.judge}, greedy 2 tokens, batch {args.judge_batch_size}): {t_judge:.3f} s total, {1000 * t_judge / n:.1f} ms/check, accuracy vs verifier {judge_acc:.3f} ({unparsed} unparseable answers)")
    print(f"speed ratio judge/classifier: {t_judge / t_rm:.1f}x  (torch threads {torch.get_num_threads()})")
    print(f"majority-class baseline accuracy: {max(sum(truth), n - sum(truth)) / n:.3f}")


if __name__ == "__main__":
    main()
