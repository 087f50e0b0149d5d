"""Does a policy follow a constraint, or only the prompts it was trained on?

Figure it produced (docs/experiments.md, "What the warm-start teaches"; lowercase, all capitals,
quotation and repeat-the-prompt summed, 2026-11-28): cpu-2h's 150-seed warm-start passed 33/61
trained prompts (54 %), 7/64 held-out seeds (11 %) and 3/64 IFEval prompts (5 %); 600 seeds x 1
answer passed 23/64 (36 %), 19/64 (30 %) and 4/64 (6 %): more seeds teach the instruction rather
than the prompts, which is why ``configs/cpu-2h.yaml`` uses 600 seeds.

The cpu-2h policies pass the stuck types (lowercase, capitals, quotation, repeat the prompt) on
about half of their training prompts but on almost none of IFEval's. This script tells the two
explanations apart, prompt distribution or memorisation, by adding a third prompt set: curriculum
rows built from *other* seeds with the same templates. For each model, each constraint type and
each prompt set it answers up to ``--per-type`` prompts greedily and checks that one constraint
with its strict verifier:

- ``trained``: the curriculum rows that a warm-start answered (``<warmstart dir>/warmstart.jsonl``);
- ``held-out``: rows of ``--heldout`` whose seed text is in no ``--curriculum``;
- ``ifeval``: the ``--benchmark`` prompts that ask for the type (kwargs as the benchmark gives them).

The base model (``--base``) is measured on the same prompts. ``--train`` first runs a warm-start
with the preset's ``train.warmstart`` (``--set`` overrides it, e.g. ``train.warmstart.n_prompts=582``)
on the last ``--curriculum``, into ``--out``, then measures it beside the given ones. Counts come with
Wilson 95 % intervals.

    selfif seeds -c configs/cpu-2h.yaml --seed 7 -n 300 -o /tmp/held/seeds.jsonl
    selfif synth -c configs/cpu-2h.yaml --seeds /tmp/held/seeds.jsonl -o /tmp/held/curriculum.jsonl --seed 7
    python experiments/warmstart_generalization.py --curriculum runs/cpu-2h/curriculum.jsonl \\
        --heldout /tmp/held/curriculum.jsonl \\
        --warmstart runs/cpu-2h/policy/warmstart
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

TYPES = ("change_case:english_lowercase", "change_case:english_capital", "combination:repeat_prompt", "startend:quotation")


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (in percent)."""
    if n == 0:
        return (0.0, 0.0)
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (100 * max(0.0, mid - half), 100 * min(1.0, mid + half))


def kwargs_of(constraints: list[dict], type_id: str) -> dict | None:
    return next((c["kwargs"] for c in constraints if c["id"] == type_id), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--curriculum", action="append", required=True, help="a training curriculum.jsonl (repeatable; --train uses the last)")
    ap.add_argument("--heldout", required=True, help="a curriculum.jsonl built from other seeds")
    ap.add_argument("--benchmark", default=None, help="IFEval input_data.jsonl (default: the copy packaged with selfif)")
    ap.add_argument("--warmstart", action="append", default=[], help="a warm-start output dir (repeatable)")
    ap.add_argument("--base", default="smollm2-135m", help="the starting policy, measured too ('none': skip it)")
    ap.add_argument("--train", help="a preset whose train.warmstart to run first, on --curriculum")
    ap.add_argument("--set", action="append", default=[], help="override for --train, e.g. train.warmstart.epochs=1")
    ap.add_argument("--out", default="runs/ws-generalization", help="where --train writes its warm-start")
    ap.add_argument("--types", nargs="+", default=list(TYPES))
    ap.add_argument("--per-type", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from selfif.constraints import registry
    from selfif.generation import SamplingParams, make_generator
    from selfif.rl.dataset import read_curriculum

    t0 = time.time()
    curricula = [read_curriculum(c) for c in args.curriculum]
    constraints_of = {r["prompt"][-1]["content"]: json.loads(r["constraints"]) for rows in curricula for r in rows}
    models = [] if args.base == "none" else [("base", args.base, None)]
    dirs = [Path(d) for d in args.warmstart]
    if args.train:
        from selfif.config import load_config
        from selfif.precision import training_precision
        from selfif.rl.warmstart import run_warmstart

        cfg = load_config(args.train, args.set)
        if args.base == "none":
            args.base = cfg.model
        ws = cfg.train.warmstart.model_copy(update={"enabled": True})
        t = time.time()
        summary = run_warmstart(ws, curricula[-1], cfg.model or args.base, args.out,
                                precision=training_precision(cfg.train.precision))
        print(f"warm-start into {args.out} on {args.curriculum[-1]}: {summary['prompts']} prompts, {summary['examples']} examples, "
              f"{summary['updates']} updates, {time.time() - t:.0f} s", flush=True)
        dirs.append(Path(args.out))
    for d in dirs:
        models.append((d.as_posix(), str(d / "model"), d / "warmstart.jsonl"))

    train_seeds = {json.loads(line)["seed_text"] for c in args.curriculum for line in open(c, encoding="utf-8") if line.strip()}
    held_text = {json.loads(line)["prompt"]: json.loads(line)["seed_text"] for line in open(args.heldout, encoding="utf-8") if line.strip()}
    held = [r for r in read_curriculum(args.heldout) if held_text[r["prompt"][-1]["content"]] not in train_seeds]
    from selfif.eval.benchmark import PACKAGED_IFEVAL

    bench = [json.loads(line) for line in open(args.benchmark or PACKAGED_IFEVAL, encoding="utf-8") if line.strip()]

    def items_for(ws_file: Path | None) -> list[tuple[str, str, str, dict]]:
        out, trained = [], []
        if ws_file is not None:  # the prompts it answered; their constraints from the curricula given
            answered = sorted({json.loads(line)["prompt"] for line in open(ws_file, encoding="utf-8") if line.strip()})
            missing = [p for p in answered if p not in constraints_of]
            if missing:
                raise SystemExit(f"{ws_file}: {len(missing)} answered prompts are in no --curriculum, e.g. {missing[0][:80]!r}")
            trained = [(p, constraints_of[p]) for p in answered]
        for t in args.types:
            for name, pool in (("trained", trained), ("held-out", [(r["prompt"][-1]["content"], json.loads(r["constraints"])) for r in held])):
                pool = [(p, cs) for p, cs in pool if kwargs_of(cs, t) is not None]
                for p, cs in random.Random(f"{args.seed}/{name}/{t}").sample(pool, min(args.per_type, len(pool))):
                    out.append((name, t, p, kwargs_of(cs, t)))
            pool = [b for b in bench if t in b["instruction_id_list"]]
            for b in random.Random(f"{args.seed}/ifeval/{t}").sample(pool, min(args.per_type, len(pool))):
                kw = b["kwargs"][b["instruction_id_list"].index(t)]
                out.append(("ifeval", t, b["prompt"], {k: v for k, v in kw.items() if v is not None}))
        return out

    params = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=0.0, seed=args.seed, batch_size=16)
    table: dict[tuple[str, str, str], tuple[int, int]] = {}
    for label, model, ws_file in models:
        # the base model is measured on the first warm-start's trained prompts too
        items = items_for(ws_file if ws_file is not None else next((m[2] for m in models if m[2] is not None), None))
        gen = make_generator(model, backend="auto", threads=args.threads)
        answers = gen.generate([p for _, _, p, _ in items], params, progress=False)
        for (src, t, prompt, kw), a in zip(items, answers):
            k, n = table.get((label, t, src), (0, 0))
            table[(label, t, src)] = (k + registry.verify(t, a, kw, prompt=prompt), n + 1)
        print(f"measured {label} on {len(items)} prompts ({time.time() - t0:.0f} s so far)", flush=True)

    sources = ("trained", "held-out", "ifeval")
    print(f"\n| model | type | {' | '.join(sources)} |")
    print("|---|---|" + "---|" * len(sources))
    for label, _, _ in models:
        for t in args.types:
            cells = []
            for s in sources:
                k, n = table.get((label, t, s), (0, 0))
                lo, hi = wilson(k, n)
                cells.append(f"{k}/{n} [{lo:.0f}, {hi:.0f}]" if n else "-")
            print(f"| {label} | `{t}` | {' | '.join(cells)} |")
    for label, _, _ in models:
        tot = {s: [sum(table.get((label, t, s), (0, 0))[i] for t in args.types) for i in (0, 1)] for s in sources}
        print(f"{label}: " + ", ".join(f"{s} {k}/{n} ({100 * k / max(n, 1):.0f} %)" for s, (k, n) in tot.items()))
    print(f"wall {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
