"""Validation report of a reward model: accuracy, ROC AUC, calibration, agreement with verifiers.

The reward is the RM's *probability* (not a 0/1 verdict), so calibration matters as much as
accuracy: Brier score and expected calibration error (ECE) are reported with a reliability
diagram. Hard constraints have code verifiers, so on validation pairs of hard types (never
trained on) the RM's verdict is also compared with verifier truth -- the one number here that
does not depend on the pseudo-labels being right.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ECE_BINS = 10


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Weighted mean |accuracy - confidence| over equal-width probability bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(probs, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(labels[m].mean() - probs[m].mean())
    return float(ece)


def compute_metrics(
    probs: Sequence[float], labels: Sequence[int], verifier_labels: Sequence[int | None] | None = None
) -> dict[str, Any]:
    """Metrics of predicted P(satisfies) against pseudo-labels (and verifier truth where known)."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    p = np.asarray(probs, dtype=float)
    y = np.asarray(labels, dtype=int)
    out: dict[str, Any] = {"n": int(len(p))}
    if len(p) == 0:
        return out | {"accuracy": None, "roc_auc": None, "brier": None, "ece": None}
    pred = (p >= 0.5).astype(int)
    out["accuracy"] = float((pred == y).mean())
    out["roc_auc"] = float(roc_auc_score(y, p)) if len(set(y.tolist())) == 2 else None
    out["brier"] = float(brier_score_loss(y, p, pos_label=1))
    out["ece"] = expected_calibration_error(p, y)
    out["mean_prob"] = float(p.mean())
    if verifier_labels is not None:
        known = [i for i, v in enumerate(verifier_labels) if v is not None]
        if known:
            v = np.asarray([verifier_labels[i] for i in known], dtype=int)
            out["hard_vs_verifier"] = {
                "n": len(known),
                "rm_accuracy": float((pred[known] == v).mean()),
                "pseudo_label_accuracy": float((y[known] == v).mean()),
                "rm_roc_auc": float(roc_auc_score(v, p[known])) if len(set(v.tolist())) == 2 else None,
            }
        else:
            out["hard_vs_verifier"] = {"n": 0, "rm_accuracy": None, "pseudo_label_accuracy": None, "rm_roc_auc": None}
    return out


def reliability_plot(probs: Sequence[float], labels: Sequence[int], path: Path, title: str = "RM reliability (val)") -> None:
    """Reliability diagram (fraction positive vs mean predicted probability per bin) as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = np.asarray(probs, dtype=float)
    y = np.asarray(labels, dtype=int)
    fig, (ax, axh) = plt.subplots(2, 1, figsize=(5, 6), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    if len(p):
        edges = np.linspace(0, 1, ECE_BINS + 1)
        idx = np.clip(np.digitize(p, edges[1:-1], right=True), 0, ECE_BINS - 1)
        xs, ys = [], []
        for b in range(ECE_BINS):
            m = idx == b
            if m.any():
                xs.append(p[m].mean())
                ys.append(y[m].mean())
        ax.plot(xs, ys, "o-", label=f"RM (ECE {expected_calibration_error(p, y):.3f})")
        axh.hist(p, bins=edges, color="tab:blue", alpha=0.7)
    ax.set_ylabel("fraction labelled positive")
    ax.set_title(title)
    ax.legend(loc="upper left")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    axh.set_xlabel("predicted P(satisfies)")
    axh.set_ylabel("count")
    fig.tight_layout()
    import io

    from selfif.io import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
