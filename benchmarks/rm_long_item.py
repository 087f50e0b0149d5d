"""What the character cut before tokenizing buys on one huge reward-model item (bounded time and memory per input).

One 7.9 MB response used to hold the RM server's only scoring worker for 6.3 s, and a 50 MB one
took ``selfif train-rm`` to 24 GB: tokenizers build the whole token list before truncating.
:func:`selfif.reward.template.encode` now cuts every text to ``max_length * MAX_CHARS_PER_TOKEN``
characters first. This script tokenizes the same item both ways with the default backbone's
tokenizer (all-MiniLM-L6-v2), checks that they give the same tokens, and prints the time of each
and their ratio, all measured in this run.

    python benchmarks/rm_long_item.py [--mb 7.9] [--max-length 384]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=7.9, help="size of the response in MB")
    ap.add_argument("--max-length", type=int, default=384, help="RM max_length (tokens)")
    args = ap.parse_args()

    from transformers import AutoTokenizer

    from selfif.models import resolve
    from selfif.reward.template import encode, first_segment

    tok = AutoTokenizer.from_pretrained(resolve("minilm-l6"))
    huge = "The tide rises twice a day. " * int(args.mb * 1e6 / 28)
    t0 = time.perf_counter()
    cut = encode(tok, [(huge, "Be brief.", None)], max_length=args.max_length, include_instruction=False)
    t_cut = time.perf_counter() - t0
    t0 = time.perf_counter()
    whole = tok([first_segment("Be brief.")], [huge], truncation="longest_first", max_length=args.max_length)
    t_whole = time.perf_counter() - t0
    same = cut["input_ids"] == whole["input_ids"]
    print(f"{len(huge) / 1e6:.1f} MB response, max_length {args.max_length}: same tokens: {same}")
    print(f"tokenize whole then truncate  {t_whole * 1000:10.1f} ms")
    print(f"cut by characters first       {t_cut * 1000:10.1f} ms")
    print(f"speedup {t_whole / t_cut:.2f}x")


if __name__ == "__main__":
    main()
