"""How long the paired bootstrap of a full-IFEval comparison takes (541 prompts, 25 types).

Why: ``selfif run`` recomputes the comparison for ``report.md`` and its last line, so it must stay
well under a second. Prints the vectorised time for several resample counts, then the same 5000
resamples computed one replicate at a time in plain Python (prompt-level strict only, i.e. far less
work), and their ratio on the last line as ``speedup X.XXx``.

Usage: ``python benchmarks/bootstrap.py``
"""

from __future__ import annotations

import random
import time

from selfif.eval.bootstrap import PromptVerdicts, paired_bootstrap

N, TYPES = 541, [f"type:{i}" for i in range(25)]


def synthetic(seed: int) -> dict[str, PromptVerdicts]:
    rng = random.Random(seed)
    out = {}
    for i in range(N):
        ids = tuple(TYPES[(i + j) % len(TYPES)] for j in range(1 + i % 3))
        out[f"prompt {i}"] = PromptVerdicts(ids, tuple(rng.random() < 0.3 for _ in ids), tuple(rng.random() < 0.35 for _ in ids))
    return out


def naive_prompt_strict(before: dict, after: dict, resamples: int, seed: int) -> tuple[float, float]:
    keys = sorted(before)
    d = [all(after[k].strict) - all(before[k].strict) for k in keys]
    rng = random.Random(seed)
    reps = sorted(sum(d[rng.randrange(N)] for _ in range(N)) / N for _ in range(resamples))
    return reps[int(0.025 * resamples)], reps[int(0.975 * resamples) - 1]


def main() -> None:
    before, after = synthetic(0), synthetic(1)
    for b in (2000, 5000, 10000):
        t = time.perf_counter()
        paired_bootstrap(before, after, resamples=b)
        print(f"vectorised, all 4 overall + 50 per-type intervals, {b:>5} resamples: {time.perf_counter() - t:.3f} s")
    t = time.perf_counter()
    fast = paired_bootstrap(before, after, resamples=5000)
    t_fast = time.perf_counter() - t
    t = time.perf_counter()
    lo, hi = naive_prompt_strict(before, after, 5000, 0)
    t_naive = time.perf_counter() - t
    e = fast["overall"]["prompt_level_strict"]
    print(f"prompt strict interval: vectorised [{e['low']:+.4f}, {e['high']:+.4f}], naive loop [{lo:+.4f}, {hi:+.4f}]"
          f" (different random draws; close, not equal)")
    print(f"naive loop, prompt-level strict only, 5000 resamples: {t_naive:.3f} s")
    print(f"speedup {t_naive / t_fast:.2f}x")


if __name__ == "__main__":
    main()
