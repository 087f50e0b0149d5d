"""PNG plots of a GRPO run from ``trainer.state.log_history`` (matplotlib, Agg backend).

One figure per question a reader of a run asks: is the reward going up (overall and per level)?
Which part of the reward moves (hard verifiers vs the soft RM)? Are completions getting
longer/shorter (length hacking, truncation)? How far did the policy move from the reference
(KL, only computed by TRL when ``beta > 0``)?
"""

from __future__ import annotations

import io
from pathlib import Path

from selfif.io import atomic_write_bytes


def _series(history: list[dict], key: str) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for h in history:
        v = h.get(key)
        if v is not None and "step" in h:
            xs.append(h["step"])
            ys.append(float(v))
    return xs, ys


def _save(fig, path: Path) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())
    return str(path)


def write_plots(history: list[dict], out_dir: str | Path, *, beta: float = 0.0) -> dict[str, str]:
    """Write reward, reward_components, completion_length, kl, guidance, onpolicy_pass PNGs; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    written: dict[str, str] = {}

    def figure(title, ylabel):
        fig, ax = plt.subplots(figsize=(6, 3.6))
        ax.set_title(title)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        return fig, ax

    def finish(fig, ax, name, empty_note):
        if not ax.lines:
            ax.text(0.5, 0.5, empty_note, ha="center", va="center", transform=ax.transAxes)
        elif len(ax.lines) > 1 and ax.get_legend() is None:
            ax.legend(fontsize=8)
        written[name] = _save(fig, out_dir / f"{name}.png")
        plt.close(fig)

    fig, ax = figure("Reward per step", "mean reward")
    x, y = _series(history, "reward")
    if x:
        ax.plot(x, y, "k-o", ms=3, label="all levels")
    levels = sorted({k for h in history for k in h if k.startswith("reward_level/")}, key=lambda k: int(k.split("/L")[1]))
    for key in levels:
        x, y = _series(history, key)
        ax.plot(x, y, "-o", ms=3, alpha=0.8, label=key.split("/")[1])
    finish(fig, ax, "reward", "no reward logged")

    fig, ax = figure("Reward components", "mean constraint score")
    for key, label in (("constraint_reward/hard", "hard (verifier)"), ("constraint_reward/soft", "soft (reward model)")):
        x, y = _series(history, key)
        if x:
            ax.plot(x, y, "-o", ms=3, label=label)
    finish(fig, ax, "reward_components", "no per-component reward logged")

    fig, ax = figure("Completion length", "tokens")
    for key, label in (("completions/mean_length", "mean"), ("completions/max_length", "max")):
        x, y = _series(history, key)
        if x:
            ax.plot(x, y, "-o", ms=3, label=label)
    finish(fig, ax, "completion_length", "no completion lengths logged")

    fig, ax = figure("KL(policy || reference)", "KL")
    x, y = _series(history, "kl")
    if x and beta > 0:
        ax.plot(x, y, "-o", ms=3)
    note = "KL not computed: beta = 0 (no reference model, as in the paper)" if beta <= 0 else "no KL logged"
    finish(fig, ax, "kl", note)

    # guided GRPO (selfif.rl.guidance): how much of the batch was repaired, and whether the policy's
    # distribution flattened under the off-policy push (entropy)
    fig, ax = figure("Guided completions and policy entropy", "share of completions / groups")
    for key, label in (("guidance/share", "guided share"), ("guidance/triggered", "groups triggered"),
                       ("completions/clipped_ratio", "rollouts cut at the cap"),
                       ("greedy/looping", "greedy members ending in a loop")):  # train.greedy_member (selfif.rl.greedy)
        x, y = _series(history, key)
        if x:
            ax.plot(x, y, "-o", ms=3, label=label)
    x, y = _series(history, "entropy")
    if x:
        ax2 = ax.twinx()
        ax2.plot(x, y, "k--", lw=1, label="entropy (right axis)")
        ax2.set_ylabel("entropy (nats/token)")
        ax2.legend(fontsize=8, loc="upper right")
    finish(fig, ax, "guidance", "no guidance metrics logged")

    # the honest learning curve: pass rates of the sampled (never the repaired) completions
    fig, ax = figure("On-policy pass rate (guided samples excluded)", "pass rate")
    x, y = _series(history, "onpolicy_pass/all")
    if x:
        ax.plot(x, y, "k-o", ms=3, label="all hard constraints")
    per_type = sorted({k for h in history for k in h if k.startswith("onpolicy_pass/")} - {"onpolicy_pass/all", "onpolicy_pass/prompt"})
    for key in per_type:
        x, y = _series(history, key)
        ax.plot(x, y, "-", lw=1, alpha=0.7, label=key.split("/", 1)[1].split(":")[-1])
    if len(per_type) > 8:
        ax.legend(fontsize=6, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    finish(fig, ax, "onpolicy_pass", "no on-policy pass rates logged")
    return written
