"""Throughput of `selfif label` generation on the default policy, batch size 1 vs 8, same run.

Builds a small curriculum (seeds x levels L0..L3) from the packaged ShareGPT seeds, runs the real
label generation path (shared backend, resumable appends) twice into fresh directories, once per
batch size, and prints responses/s, generated tokens/s and the batch-8 / batch-1 ratio.

    python benchmarks/label_throughput.py [--seeds 6] [--levels 3] [--max-new-tokens 32] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--levels", type=int, default=3)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    ap.add_argument("--model", default="smollm2-135m")
    args = ap.parse_args()

    import torch

    from selfif.config import GenerationConfig, SeedsConfig, SynthConfig
    from selfif.data.seeds import build_seeds
    from selfif.data.synth import build_curriculum
    from selfif.generation import make_generator
    from selfif.io import read_jsonl, write_jsonl
    from selfif.labeling.label import RESPONSES, generate_responses

    if args.threads:
        torch.set_num_threads(args.threads)
    seeds, _ = build_seeds(SeedsConfig(n=args.seeds), limit_records=400, progress=False)
    rows = build_curriculum(seeds, SynthConfig(levels=args.levels, seed=0))
    gen = make_generator(args.model, backend="transformers")
    tok = gen.tokenizer
    print(f"model {args.model}, {len(rows)} prompts ({len(seeds)} seeds x L0..L{args.levels}), "
          f"max_new_tokens {args.max_new_tokens}, temperature {args.temperature}, torch threads {torch.get_num_threads()}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        cur = write_jsonl(Path(tmp) / "curriculum.jsonl", rows)
        for bs in (1, 8):
            cfg = GenerationConfig(backend="transformers", max_new_tokens=args.max_new_tokens, batch_size=bs, temperature=args.temperature)
            out = Path(tmp) / f"bs{bs}"
            t0 = time.perf_counter()
            generate_responses(cur, out, args.model, cfg, generator=gen, progress=False)
            dt = time.perf_counter() - t0
            resp = read_jsonl(out / RESPONSES)
            n_tok = sum(len(tok(r["response"], add_special_tokens=False)["input_ids"]) for r in resp)
            results[bs] = (len(resp) / dt, n_tok / dt)
            print(f"batch {bs}: {len(resp)} responses, {n_tok} tokens in {dt:.1f}s -> "
                  f"{len(resp) / dt:.2f} responses/s, {n_tok / dt:.1f} tokens/s")
    print(f"batch 8 / batch 1: {results[8][0] / results[1][0]:.2f}x responses/s, {results[8][1] / results[1][1]:.2f}x tokens/s")


if __name__ == "__main__":
    main()
