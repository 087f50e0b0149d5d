"""GRPO run plots (selfif.rl.plots): smoothed curves and the per-type pass-rate heatmap.

The log fed to ``write_plots`` has the shape of ``trainer.state.log_history`` of a cpu-2h run
(90 steps, 4 prompts a step, per-type rates logged only on the steps that asked for the type),
generated here from a seeded process.
"""

from __future__ import annotations

import math
import random

import matplotlib.image as mpimg
import pytest

from selfif.rl.plots import PassRateGrid, ema_weight, pass_rate_grid, smooth, step_window, write_plots

TYPES = [f"group:type_{i:02d}" for i in range(25)]


def run_log(steps: int = 90, seed: int = 0) -> list[dict]:
    """4 prompts a step, each asking up to 3 of the 25 types; each type passes with a probability
    rising over the run. Rates per step, as selfif.rl.guidance.onpolicy_metrics logs them."""
    rng = random.Random(seed)
    history = []
    for step in range(1, steps + 1):
        p = 0.2 + 0.6 * step / steps
        per: dict[str, list[int]] = {}
        for _ in range(4):
            for t in rng.sample(TYPES, rng.randint(1, 3)):
                acc = per.setdefault(t, [0, 0])
                for _ in range(4):  # 4 completions
                    acc[0] += rng.random() < p
                    acc[1] += 1
        h = {"step": step, "reward": p + rng.gauss(0, 0.2), "reward_level/L1": p + rng.gauss(0, 0.2),
             "completions/mean_length": 100 - 30 * step / steps + rng.gauss(0, 5), "entropy": 1.5 + rng.gauss(0, 0.1),
             "guidance/share": max(0.0, 0.1 + rng.gauss(0, 0.05))}
        h.update({f"onpolicy_pass/{t}": a / n for t, (a, n) in sorted(per.items())})
        h["onpolicy_pass/all"] = sum(a for a, _ in per.values()) / sum(n for _, n in per.values())
        h["onpolicy_pass/prompt"] = h["onpolicy_pass/all"] ** 2
        history.append(h)
    history.append({"step": steps, "train_runtime": 1.0})  # TRL's closing entry: no metrics
    return history


def test_smooth_is_tensorboards_debiased_ema():
    assert smooth([3.0, 3.0, 3.0], 0.9) == pytest.approx([3.0, 3.0, 3.0])  # no pull towards 0 at the start
    assert smooth([1.0, 5.0], 0.0) == [1.0, 5.0]
    ys = smooth([0.0] + [1.0] * 30, 0.8)
    assert ys[0] == 0.0 and all(a < b for a, b in zip(ys, ys[1:])) and ys[-1] > 0.99
    # the second value: (0.8 * 0.2 * 0 + 0.2 * 1) / (1 - 0.8 ** 2)
    assert ys[1] == pytest.approx(0.2 / 0.36)


def test_smoothing_and_windows_scale_with_run_length():
    assert ema_weight(3) == 0.0  # a tiny run is drawn raw
    assert 1 / (1 - ema_weight(90)) == pytest.approx(9.0)
    assert ema_weight(100_000) == pytest.approx(1 - 1 / 50)
    assert [step_window(n) for n in (3, 12, 13, 90, 240, 1000)] == [1, 1, 2, 10, 20, 100]


def test_pass_rate_grid_pools_windows_and_leaves_unasked_cells_empty():
    history = [
        {"step": 1, "onpolicy_pass/a:x": 1.0, "onpolicy_pass/all": 0.5},
        {"step": 2, "onpolicy_pass/a:x": 0.0, "onpolicy_pass/b:y": 0.25, "onpolicy_pass/all": 0.25},
        {"step": 3, "reward": 0.3},  # a step that logged no pass rate
        {"step": 4, "onpolicy_pass/a:x": 0.5, "onpolicy_pass/all": 0.5},
        {"step": 5, "onpolicy_pass/b:y": 1.0, "onpolicy_pass/all": 1.0},
    ]
    grid = pass_rate_grid(history, window=2)
    assert grid == PassRateGrid(
        rows=["all", "a:x", "b:y"],
        edges=[1, 3, 5, 6],
        rates=[[0.375, 0.5, 1.0], [0.5, 0.5, None], [0.25, None, 1.0]],
        steps=[[2, 1, 1], [2, 1, 0], [1, 0, 1]],
    )
    assert pass_rate_grid([{"step": 1, "reward": 0.1}]) is None


def test_write_plots_from_a_90_step_run(tmp_path):
    history = run_log()
    grid = pass_rate_grid(history)
    assert grid.rows[:2] == ["all", "prompt"] and grid.rows[2:] == sorted(TYPES)
    assert grid.edges == [1, 11, 21, 31, 41, 51, 61, 71, 81, 91]  # 9 windows of 10 steps
    assert len(grid.rates) == 27 and all(len(r) == 9 for r in grid.rates)
    # the process's trend shows in the pooled cells: later windows pass more often
    first, last = grid.rates[0][0], grid.rates[0][-1]
    assert last - first > 0.3

    written = write_plots(history, tmp_path, beta=0.0)
    assert set(written) == {"reward", "reward_components", "completion_length", "kl", "guidance", "onpolicy_pass"}
    shapes = {name: mpimg.imread(path).shape for name, path in written.items()}
    # one heatmap row per type makes the on-policy figure much taller than a single curve
    assert shapes["onpolicy_pass"][0] > 2 * shapes["reward"][0]
    assert all(s[0] > 200 and s[1] > 300 for s in shapes.values())


def test_plots_are_deterministic_and_handle_missing_metrics(tmp_path):
    history = run_log(steps=12, seed=1)
    a = write_plots(history, tmp_path / "a")
    b = write_plots(history, tmp_path / "b")
    assert all(open(a[k], "rb").read() == open(b[k], "rb").read() for k in a)
    # a run without guidance or on-policy metrics still gets every figure (with a note instead of curves)
    bare = [{"step": s, "reward": math.sin(s)} for s in range(1, 6)]
    written = write_plots(bare, tmp_path / "bare")
    assert set(written) == set(a) and all(mpimg.imread(p).size for p in written.values())
