"""Does training the RM on repaired positives make it agree better with the verifier on hard types?

    python experiments/rm_repair_positives.py [--run-dir runs/ab/baseline] [--out runs/rm-repair] [--epochs 3]

Figure it produced (docs/repairs.md, why ``label.repair_positives`` is off by default; cpu-2h's
labels, 186 hard items from 40 held-out seeds): ROC AUC 0.49 with repaired positives against 0.60
without; accuracy 0.20 against 0.60 (-0.40, 95 % interval [-0.49, -0.31]): repairs raised the share
of positive labels from 50 to 62 % and that RM learned only the shift.

Repairs as labels: on the types the policy never follows, the contrast pseudo-labels are at chance, so the audit drops every hard type from cpu-2h's RM and
``label.repair_positives`` (a code-repaired copy of each failing negative, labelled 1) cannot show
its effect there. This measures it directly, against the one label here that is not a guess:
the strict verifier. The run's own responses are reused (nothing is generated): hard pairs are
built with ``build_pairs`` (contrast labels, as cpu-2h) with and without repaired positives, the
seeds are split 80/20 by ``split_by_seed`` (seed 0), and two RMs are trained with ``train_rm`` on
the train seeds' hard pairs (cpu-2h's rm section: epochs 3, batch 16, max_length 320, lr 5e-5,
seed 0; no audit filter, so the hard types are kept; no inner validation split, so both RMs see
all train seeds and keep their last epoch rather than one picked on a val set that, for the
second RM, would itself contain repairs). Both are scored with ``ConstraintRM.score`` on the
held-out seeds' real (constraint, response) items, labelled by the verifier; repaired items are
never evaluated (they are positive by construction).

Printed: accuracy, balanced accuracy (the verifier's labels are mostly 0: a constant "fails"
scores high accuracy), predicted-positive rate, mean probability, ROC AUC (threshold-free: the
repairs raise the share of 1 labels, and a shifted prior moves accuracy at 0.5 with no change in
ranking) and n per RM, each RM's train loss beside the loss of a constant prior (how much it
learned at all), the pseudo-labels' own agreement with the verifier on the same items, per-type accuracy for types with >= 10 held-out items, and a
paired 95 % bootstrap interval (2000 resamples, seed 0) on the accuracy difference. The numbers
go to ``OUT/rm_repair_positives.json``. Both RMs (498 and 660 pairs on runs/ab/baseline) took 6 min in all on
one thread of a shared 2-core CPU, so cpu-2h's 3 epochs are kept.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from selfif.layout import CURRICULUM, LABEL_DIR, RESPONSES

PRODUCE = "selfif run configs/cpu-2h.yaml --run-dir {} --until label"


def scores(prob: np.ndarray, truth: np.ndarray) -> dict:
    pred = prob >= 0.5
    tpr = pred[truth == 1].mean() if (truth == 1).any() else float("nan")
    tnr = (~pred[truth == 0]).mean() if (truth == 0).any() else float("nan")
    from sklearn.metrics import roc_auc_score

    return {"n": int(len(truth)), "accuracy": float((pred == truth).mean()), "balanced_accuracy": float((tpr + tnr) / 2),
            "positive_rate": float(pred.mean()), "mean_prob": float(prob.mean()),
            "roc_auc": float(roc_auc_score(truth, prob)) if len(set(truth.tolist())) == 2 else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", type=Path, default=Path("runs/ab/baseline"))
    ap.add_argument("--out", type=Path, default=Path("runs/rm-repair"))
    ap.add_argument("--epochs", type=int, default=3, help="RM epochs (cpu-2h: 3)")
    args = ap.parse_args()
    curriculum, responses_path = args.run_dir / CURRICULUM, args.run_dir / LABEL_DIR / RESPONSES
    for f in (curriculum, responses_path):
        if not f.exists():
            sys.exit(f"missing {f}; produce it with `{PRODUCE.format(args.run_dir)}`")

    from selfif.config import RMConfig
    from selfif.io import read_jsonl, write_jsonl
    from selfif.labeling.label import ResponseRow, read_curriculum
    from selfif.labeling.pairs import build_pairs
    from selfif.reward.data import split_by_seed
    from selfif.reward.model import ConstraintRM
    from selfif.reward.train import train_rm

    t0 = time.perf_counter()
    rows, responses = read_curriculum(curriculum), read_jsonl(responses_path, ResponseRow)
    pairs = [p for p in build_pairs(rows, responses, "contrast", str(responses_path), repair_positives=True)
             if p.constraint.kind == "hard"]
    train, held = split_by_seed(pairs, 0.2, seed=0)
    items = [p for p in held if p.source == "contrast"]
    truth = np.array([p.verifier_label for p in items])
    repairs = Counter(p.constraint.id for p in train if p.source == "repair")
    cfg = RMConfig(backbone="minilm-l6", epochs=args.epochs, batch_size=16, max_length=320, lr=5e-5, seed=0,
                   val_fraction=0.0, min_audit_accuracy=0.0)
    args.out.mkdir(parents=True, exist_ok=True)

    probs, balance = {}, {}
    for name, keep in (("without", lambda p: p.source == "contrast"), ("with", lambda p: True)):
        subset = [p for p in train if keep(p)]
        balance[name] = {"n": len(subset), "positive_rate": sum(p.label for p in subset) / len(subset)}
        path = write_jsonl(args.out / f"pairs-{name}.jsonl", subset)
        t = time.perf_counter()
        metrics = train_rm(path, args.out / f"rm-{name}", cfg, overwrite=True, device="cpu", progress=False)
        q = balance[name]["positive_rate"]
        balance[name] |= {"epoch_train_loss": metrics["epoch_train_loss"], "prior_loss": -q * np.log(q) - (1 - q) * np.log(1 - q)}
        rm = ConstraintRM.load(args.out / f"rm-{name}", device="cpu")
        probs[name] = np.array(rm.score([(p.response, p.constraint.text, p.instruction) for p in items]))
        print(f"RM {name} repairs: {len(subset)} train pairs ({q:.0%} labelled 1), train loss by epoch "
              f"{', '.join(f'{x:.3f}' for x in metrics['epoch_train_loss'])} (constant-prior loss {balance[name]['prior_loss']:.3f}), "
              f"trained and scored in {time.perf_counter() - t:.0f} s", flush=True)

    pseudo = np.array([p.label for p in items], dtype=float)
    overall = {"pseudo_label": scores(pseudo, truth)} | {name: scores(pr, truth) for name, pr in probs.items()}
    types = Counter(p.constraint.id for p in items)
    per_type = {}
    for tid, n in sorted(types.items()):
        if n >= 10:
            m = np.array([p.constraint.id == tid for p in items])
            per_type[tid] = {"n": n, "verifier_positive": int(truth[m].sum()), "repairs_in_train": repairs[tid]} | {
                k: float(((pr[m] >= 0.5) == truth[m]).mean()) for k, pr in (("pseudo_label", pseudo), *probs.items())}
    correct = {k: ((pr >= 0.5) == truth).astype(float) for k, pr in probs.items()}
    d = correct["with"] - correct["without"]
    idx = np.random.default_rng(0).integers(0, len(d), size=(2000, len(d)))
    lo, hi = np.percentile(d[idx].mean(axis=1), [2.5, 97.5])
    result = {"run_dir": str(args.run_dir), "epochs": args.epochs, "train_seeds": len({p.seed_id for p in train}),
              "held_out_seeds": len({p.seed_id for p in held}), "held_out_verifier_positive_rate": float(truth.mean()),
              "train_balance": balance, "repairs_in_train_per_type": dict(sorted(repairs.items())),
              "overall": overall, "per_type": per_type,
              "delta_accuracy": {"mean": float(d.mean()), "ci95": [float(lo), float(hi)]},
              "wall_s": round(time.perf_counter() - t0, 1)}
    (args.out / "rm_repair_positives.json").write_text(json.dumps(result, indent=2) + "\n")

    print(f"\nheld-out hard items: {len(items)} from {result['held_out_seeds']} seeds, "
          f"{truth.mean():.1%} verifier-positive; train seeds {result['train_seeds']}, "
          f"repaired positives in train {sum(repairs.values())}")
    print(f"{'labels':<22}{'n':>5}{'acc':>8}{'bal acc':>9}{'pos rate':>10}{'mean p':>8}{'AUC':>7}")
    for k, s in overall.items():
        name = {"pseudo_label": "contrast pseudo-label", "without": "RM without repairs", "with": "RM with repairs"}[k]
        print(f"{name:<22}{s['n']:>5}{s['accuracy']:>8.3f}{s['balanced_accuracy']:>9.3f}{s['positive_rate']:>10.3f}"
              f"{s['mean_prob']:>8.3f}{s['roc_auc']:>7.3f}")
    print(f"\n{'type (>= 10 held-out)':<46}{'n':>4}{'v+':>4}{'rep':>5}{'pseudo':>8}{'without':>9}{'with':>7}")
    for tid, s in per_type.items():
        print(f"{tid:<46}{s['n']:>4}{s['verifier_positive']:>4}{s['repairs_in_train']:>5}"
              f"{s['pseudo_label']:>8.3f}{s['without']:>9.3f}{s['with']:>7.3f}")
    a, b = overall["without"]["accuracy"], overall["with"]["accuracy"]
    print(f"rm accuracy vs verifier: without {a:.3f}, with {b:.3f}, delta {b - a:+.3f} [{lo:+.3f}, {hi:+.3f}]")


if __name__ == "__main__":
    main()
