"""PNG plots of a GRPO run from ``trainer.state.log_history`` (matplotlib, Agg backend).

One figure per question a reader of a run asks: is the reward going up (overall and per level)?
Which part of the reward moves (hard verifiers vs the soft RM)? Are completions getting
longer/shorter (length hacking, truncation)? How far did the policy move from the reference
(KL, only computed by TRL when ``beta > 0``)? Which constraint types does the policy learn?

A step's numbers come from a handful of prompts (cpu-2h: 4 prompts x 4 completions), so a raw
per-step curve is mostly sampling noise. Every curve is therefore drawn as TensorBoard draws it:
the raw points faint, a debiased exponential moving average over them solid. Per-type pass rates
are rarer still (a type is asked by one prompt every few steps), so they are pooled into step
windows and drawn as a heatmap (type x window) instead of one line per type.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

from selfif.io import atomic_write_bytes

ONPOLICY = "onpolicy_pass/"
SUMMARY_ROWS = {"all": "all hard constraints", "prompt": "whole prompt (all its hard constraints)"}
_WINDOW_SIZES = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000)
MAX_WINDOWS = 12  # heatmap columns: enough to see a trend, few enough to print each cell's value


def _series(history: list[dict], key: str) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for h in history:
        v = h.get(key)
        if v is not None and "step" in h:
            xs.append(h["step"])
            ys.append(float(v))
    return xs, ys


def ema_weight(n_points: int) -> float:
    """Smoothing weight for a curve of ``n_points``: an effective window of about a tenth of the
    run (``1 / (1 - weight)`` points, 1 to 50), so a 90-step run averages over ~9 steps and a
    3-step test run is not smoothed at all."""
    span = min(50.0, max(1.0, n_points / 10))
    return 1.0 - 1.0 / span


def smooth(ys: list[float], weight: float) -> list[float]:
    """Debiased exponential moving average, TensorBoard's smoothing: the first point is the raw
    value (no pull towards 0), later ones weigh the past by ``weight``."""
    out, last = [], 0.0
    for i, y in enumerate(ys, 1):
        last = last * weight + (1.0 - weight) * y
        out.append(last / (1.0 - weight**i) if weight > 0 else y)
    return out


def step_window(n_steps: int) -> int:
    """The smallest round window size (1, 2, 5, 10, 20, 25, 50, ...) that cuts ``n_steps`` into at
    most ``MAX_WINDOWS`` windows."""
    for w in _WINDOW_SIZES:
        if math.ceil(n_steps / w) <= MAX_WINDOWS:
            return w
    return math.ceil(n_steps / MAX_WINDOWS)


@dataclass(frozen=True)
class PassRateGrid:
    """On-policy pass rates per row (``all``, ``prompt``, then each type) and step window.

    ``rates[i][j]`` is the mean of row i's per-step rates over the steps of window j that logged
    it (``None`` when none did); ``steps[i][j]`` is how many steps that was. Window j covers
    optimizer steps ``edges[j] <= step < edges[j + 1]``.
    """

    rows: list[str]
    edges: list[int]
    rates: list[list[float | None]]
    steps: list[list[int]]


def pass_rate_grid(history: list[dict], window: int | None = None) -> PassRateGrid | None:
    """Pool the ``onpolicy_pass/*`` entries of ``history`` into step windows (``None`` if none logged).

    The log holds a rate per step, not the counts behind it, so a window's value is the mean of
    its per-step rates: every step that asked for the type counts once.
    """
    logged = [h for h in history if "step" in h and any(k.startswith(ONPOLICY) for k in h)]
    if not logged:
        return None
    keys = sorted({k[len(ONPOLICY):] for h in logged for k in h if k.startswith(ONPOLICY)})
    rows = [r for r in SUMMARY_ROWS if r in keys] + [k for k in keys if k not in SUMMARY_ROWS]
    first, last = min(h["step"] for h in logged), max(h["step"] for h in logged)
    window = window or step_window(last - first + 1)
    n_win = (last - first) // window + 1
    edges = [first + j * window for j in range(n_win)] + [min(first + n_win * window, last + 1)]
    sums = [[0.0] * n_win for _ in rows]
    steps = [[0] * n_win for _ in rows]
    for h in logged:
        j = (h["step"] - first) // window
        for i, row in enumerate(rows):
            v = h.get(ONPOLICY + row)
            if v is not None:
                sums[i][j] += float(v)
                steps[i][j] += 1
    rates = [[s / n if n else None for s, n in zip(srow, nrow)] for srow, nrow in zip(sums, steps)]
    return PassRateGrid(rows, edges, rates, steps)


def _save(fig, path: Path) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())
    return str(path)


def _curve(ax, x: list[int], y: list[float], label: str, weight: float, color=None, **style) -> None:
    """The raw points faint and the smoothed curve solid, in one colour; only the latter in the legend."""
    style = {"lw": 1.8, "ls": "-", **style}
    (line,) = ax.plot(x, smooth(y, weight), color=color, label=label, **style)
    ax.plot(x, y, ls="none", marker="o", ms=2.5, alpha=0.3, color=line.get_color(), label="_raw")


def _onpolicy_figure(plt, history: list[dict], grid: PassRateGrid, weight: float):
    """Top: the overall rates as smoothed curves. Bottom: the heatmap, type x step window, each
    cell printed (percent) and blank where no prompt in the window asked for the type."""
    import numpy as np

    types = [r for r in grid.rows if r not in SUMMARY_ROWS]
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(9, 2.6 + 0.3 * max(len(types), 1)), sharex=True,
        gridspec_kw={"height_ratios": [2.2, 0.3 * max(len(types), 1)]},
    )
    top.set_title("On-policy pass rate (guided samples excluded)")
    for row, color in zip(SUMMARY_ROWS, ("k", "tab:blue")):
        x, y = _series(history, ONPOLICY + row)
        if x:
            _curve(top, x, y, SUMMARY_ROWS[row], weight, color=color)
    top.set_ylabel("pass rate")
    top.set_ylim(-0.03, 1.03)
    top.grid(alpha=0.3)
    if top.lines:
        top.legend(fontsize=8, loc="upper left")
    else:
        top.text(0.5, 0.5, "no overall rate logged", ha="center", va="center", transform=top.transAxes)

    if types:
        idx = [grid.rows.index(t) for t in types]
        data = np.array([[np.nan if v is None else v for v in grid.rates[i]] for i in idx], dtype=float)
        mesh = bottom.pcolormesh(grid.edges, np.arange(len(types) + 1), np.ma.masked_invalid(data),
                                 cmap="viridis", vmin=0.0, vmax=1.0)
        bottom.set_facecolor("0.93")  # windows where the type was not asked
        for r in range(len(types)):
            for c in range(len(grid.edges) - 1):
                v = data[r, c]
                if not np.isnan(v):
                    bottom.text((grid.edges[c] + grid.edges[c + 1]) / 2, r + 0.5, f"{100 * v:.0f}", ha="center",
                                va="center", fontsize=6.5, color="black" if v > 0.6 else "white")
        bottom.set_yticks(np.arange(len(types)) + 0.5, types, fontsize=7)
        bottom.set_ylim(len(types), 0)
        width = grid.edges[1] - grid.edges[0]
        bottom.set_title(f"per type, {width}-step windows (% of asked constraints passed; grey: not asked)", fontsize=9)
        fig.colorbar(mesh, ax=[top, bottom], fraction=0.03, pad=0.01, label="pass rate")
    else:
        bottom.text(0.5, 0.5, "no per-type rate logged", ha="center", va="center", transform=bottom.transAxes)
        bottom.set_yticks([])
    bottom.set_xlim(grid.edges[0], grid.edges[-1])
    bottom.set_xlabel("optimizer step")
    return fig


def write_plots(history: list[dict], out_dir: str | Path, *, beta: float = 0.0) -> dict[str, str]:
    """Write reward, reward_components, completion_length, kl, guidance, onpolicy_pass PNGs; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    written: dict[str, str] = {}
    # one smoothing weight for every curve, set by the run's length, so all curves of a figure are
    # averaged alike
    w = ema_weight(len({h["step"] for h in history if "step" in h and "reward" in h}))

    def figure(title, ylabel):
        fig, ax = plt.subplots(figsize=(6.4, 3.8))
        ax.set_title(f"{title}\n(dots: per step; line: moving average, ~{1 / (1 - w):.0f} steps)" if w > 0 else title,
                     fontsize=10)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        return fig, ax

    def finish(fig, ax, name, empty_note, legend=True):
        if not ax.lines:
            ax.text(0.5, 0.5, empty_note, ha="center", va="center", transform=ax.transAxes)
        elif legend and len(ax.get_legend_handles_labels()[0]) > 1:
            ax.legend(fontsize=8)
        written[name] = _save(fig, out_dir / f"{name}.png")
        plt.close(fig)

    fig, ax = figure("Reward per step", "mean reward")
    x, y = _series(history, "reward")
    if x:
        _curve(ax, x, y, "all levels", w, color="k", lw=2.2)
    levels = sorted({k for h in history for k in h if k.startswith("reward_level/")}, key=lambda k: int(k.split("/L")[1]))
    for key in levels:
        x, y = _series(history, key)
        _curve(ax, x, y, key.split("/")[1], w)
    finish(fig, ax, "reward", "no reward logged")

    fig, ax = figure("Reward components", "mean constraint score")
    for key, label in (("constraint_reward/hard", "hard (verifier)"), ("constraint_reward/soft", "soft (reward model)")):
        x, y = _series(history, key)
        if x:
            _curve(ax, x, y, label, w)
    finish(fig, ax, "reward_components", "no per-component reward logged")

    fig, ax = figure("Completion length", "tokens")
    for key, label in (("completions/mean_length", "mean"), ("completions/max_length", "max")):
        x, y = _series(history, key)
        if x:
            _curve(ax, x, y, label, w)
    finish(fig, ax, "completion_length", "no completion lengths logged")

    fig, ax = figure("KL(policy || reference)", "KL")
    x, y = _series(history, "kl")
    if x and beta > 0:
        _curve(ax, x, y, "KL", w)
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
            _curve(ax, x, y, label, w)
    x, y = _series(history, "entropy")
    if x:
        ax2 = ax.twinx()
        _curve(ax2, x, y, "entropy (right axis)", w, color="0.3", ls="--")
        ax2.set_ylabel("entropy (nats/token)")
        handles, labels = (a + b for a, b in zip(ax.get_legend_handles_labels(), ax2.get_legend_handles_labels()))
        ax2.legend(handles, labels, fontsize=8)  # one legend, on the top axes, placed where it hides least
    finish(fig, ax, "guidance", "no guidance metrics logged", legend=not x)

    # the honest learning curve: pass rates of the sampled (never the repaired) completions
    grid = pass_rate_grid(history)
    if grid is None:
        fig, ax = figure("On-policy pass rate (guided samples excluded)", "pass rate")
        finish(fig, ax, "onpolicy_pass", "no on-policy pass rates logged")
    else:
        fig = _onpolicy_figure(plt, history, grid, w)
        written["onpolicy_pass"] = _save(fig, out_dir / "onpolicy_pass.png")
        plt.close(fig)
    return written
