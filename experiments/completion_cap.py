"""How often GRPO rollouts hit the completion cap, and how often end-dependent constraints are
then judged on truncated text: the study behind ``train.truncated_fails_end_constraints``.

Figure it produced (docstring of ``selfif.rl.truncation``; 16 cpu-2h curriculum prompts x 2
samples, T 1.0, base SmolLM2-135M): 59 % of rollouts stop at a 128-token cap and 47 % at 256, and
end-dependent judgements are made on truncated text 10 of 16 times at 128 and 8 of 16 at 256; so
doubling the cap saves few rollouts, and the cap is kept with end-dependent verdicts on truncated
text set to zero instead.

One sampled generation at the largest cap answers every smaller cap too: sampling is
autoregressive with one RNG stream, so the first 128 tokens of a 256-token rollout are the
rollout a 128-token cap would have produced. For each cap we report the share of rollouts that
stop at the cap, the share of end-dependent judgements (``selfif.rl.truncation``) made on a
truncated completion, and how many of those verdicts differ from the verdict on the finished
answer (where the answer finished under the largest cap).

    python experiments/completion_cap.py --curriculum runs/cpu-2h/curriculum.jsonl --prompts 16 --samples 2
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--curriculum", required=True)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--caps", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch

    from selfif.constraints import registry
    from selfif.models import chat_prompt, load_policy
    from selfif.rl.dataset import read_curriculum
    from selfif.rl.truncation import end_dependent

    torch.set_num_threads(args.threads)
    registry.all_types()  # load every type now, not after minutes of generation
    rows = [r for r in read_curriculum(args.curriculum) if any(c["kind"] == "hard" for c in json.loads(r["constraints"]))]
    rows = random.Random(args.seed).sample(rows, min(args.prompts, len(rows)))
    model, tok = load_policy(args.model, device="cpu")
    eos = {tok.eos_token_id, *(model.generation_config.eos_token_id if isinstance(model.generation_config.eos_token_id, list) else [model.generation_config.eos_token_id])}
    texts = [chat_prompt(tok, r["prompt"][0]["content"]) for r in rows for _ in range(args.samples)]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    torch.manual_seed(args.seed)
    cap = max(args.caps)
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=cap, do_sample=True, temperature=args.temperature, top_p=1.0, top_k=0,
                             pad_token_id=tok.pad_token_id)
    gen_s = time.perf_counter() - t0
    gen = out[:, enc["input_ids"].shape[1]:].tolist()

    def cut(ids: list[int], n: int) -> tuple[list[int], bool]:
        """The rollout under cap ``n``: tokens up to and including the first EOS, truncated flag."""
        for i, t in enumerate(ids[:n]):
            if t in eos:
                return ids[: i + 1], False
        return ids[:n], True

    print(f"{len(texts)} rollouts ({len(rows)} prompts x {args.samples}), T={args.temperature}, generated {cap} tokens in {gen_s:.0f} s")
    for n in sorted(args.caps):
        capped = 0
        judged = Counter()
        on_trunc = Counter()
        flips = Counter()
        false_pass = Counter()
        for j, ids in enumerate(gen):
            row = rows[j // args.samples]
            prompt = row["prompt"][0]["content"]
            ids_n, trunc = cut(ids, n)
            ids_full, trunc_full = cut(ids, cap)
            capped += trunc
            text = tok.decode(ids_n, skip_special_tokens=True).strip()
            full = tok.decode(ids_full, skip_special_tokens=True).strip()
            for c in json.loads(row["constraints"]):
                if c["kind"] != "hard" or not end_dependent(c["id"], c["kwargs"]):
                    continue
                judged[c["id"]] += 1
                if not trunc:
                    continue
                on_trunc[c["id"]] += 1
                ok = registry.verify(c["id"], text, c["kwargs"], prompt=prompt)
                false_pass[c["id"]] += ok
                if not trunc_full:
                    flips[c["id"]] += ok != registry.verify(c["id"], full, c["kwargs"], prompt=prompt)
        tj, tt = sum(judged.values()), sum(on_trunc.values())
        print(f"cap {n}: {capped}/{len(gen)} rollouts stop at the cap ({100 * capped / len(gen):.0f} %); "
              f"end-dependent judgements on truncated text {tt}/{tj} ({100 * tt / max(1, tj):.0f} %), "
              f"passing although truncated {sum(false_pass.values())}, verdict differs from the finished answer "
              f"{sum(flips.values())}")
        for cid in sorted(judged):
            print(f"    {cid:45s} judged {judged[cid]:3d}  truncated {on_trunc[cid]:3d}  pass-while-truncated {false_pass[cid]:3d}  flips {flips[cid]:3d}")


if __name__ == "__main__":
    main()
