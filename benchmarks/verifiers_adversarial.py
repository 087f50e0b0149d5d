"""Verifier time per MB of adversarial text (hostile inputs must not stall scoring): windowed Punkt vs one-shot.

For each adversarial megabyte, every hard verifier is timed cold (memoised measurements cleared),
strict and loose, with the windowed sentence splitter (:func:`selfif.constraints.text.
sentence_spans`; best of two runs); then the sentence- and token-bound types once more, strict,
with windowing switched off (one Punkt call over the whole text, as before). Prints the worst
type per shape and mode, then ``speedup X.XXx``: those types' summed strict time, one-shot over
windowed, in this run.

    python benchmarks/verifiers_adversarial.py
"""

from __future__ import annotations

import random
import sys
import time

from selfif.constraints import registry
from selfif.constraints import text as T

MB = 1_000_000
SHAPES = {
    "p. s. ": "p. s. " * (MB // 6),
    "p. s.\n": "p. s.\n" * (MB // 6),
    "P. S. A\n": "P. S. A\n" * (MB // 8),
    "P. S. ": "P. S. " * (MB // 6),
}
HOT = ("length_constraints:number_sentences", "count:exact_sentences", "change_case:capital_word_frequency")
PROMPT = "Write a short poem about the sea."


def cold(type_id: str, text: str, loose: bool) -> float:
    kwargs = registry.get(type_id).sample(random.Random(0))
    T.clear_caches()
    t0 = time.perf_counter()
    registry.verify(type_id, text, kwargs, loose=loose, prompt=PROMPT)
    return time.perf_counter() - t0


def main() -> None:
    hard = registry.all_types("hard")
    for ctype in hard:  # imports and language profiles are one-off costs
        registry.verify(ctype.id, "Warm up. A B.", ctype.sample(random.Random(0)), loose=True, prompt=PROMPT)
    windowed_hot = one_shot_hot = 0.0
    for name, text in SHAPES.items():
        for loose in (False, True):
            times = {c.id: min(cold(c.id, text, loose), cold(c.id, text, loose)) for c in hard}
            worst = max(times, key=times.get)
            print(f"{name!r:12} {'loose' if loose else 'strict':6} worst {times[worst]:.2f} s/MB ({worst})", flush=True)
            if not loose:
                windowed_hot += sum(times[i] for i in HOT)
    saved = T._WINDOW
    T._WINDOW = 10**9  # one Punkt call per text, as before windowing
    try:
        for name, text in SHAPES.items():
            t = sum(cold(i, text, False) for i in HOT)
            print(f"{name!r:12} strict one-shot Punkt, {len(HOT)} sentence/token types: {t:.2f} s", flush=True)
            one_shot_hot += t
    finally:
        T._WINDOW = saved
    print(f"speedup {one_shot_hot / windowed_hot:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
