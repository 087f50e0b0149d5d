"""Why a policy's answers still fail the instruction types it rarely follows: for each
type, of its IFEval instructions that fail strictly, how many answers end in a repetition loop, run
to the token cap, pass loosely, and how far they are from passing, measured as the share of
characters the type's repair (``selfif.constraints.registry.repair``) has to change.

A failure the repair fixes by changing 1 % of the characters (a stray capital, a missing closing
quote) is a near miss that more of the same training may close; one with no repair, or one that
loops to the cap, needs something else. Reads stored answers only: no model is run, the packaged
tokenizer is loaded to count tokens.

Figure it produced (docs/experiments.md, "What keeps the stuck types failing"; seed 1 of cpu-2h,
``results/ifeval/cpu-2h-s600b``): 203 of the 240 stuck-type instructions fail strictly, 131 of those
answers end in a loop and 97 run to the 512-token cap (base policy: 130 and 121 of 232); all 31
quotation failures are near misses (the repair changes at most 2 % of the characters).

    python experiments/stuck_failures.py \\
        base=results/ifeval/smollm2-135m-base/responses.jsonl after=results/ifeval/cpu-2h-s600b/responses.jsonl
"""

from __future__ import annotations

import argparse
import difflib
import statistics

from guided_ab import STUCK  # the 8 IFEval types the base policy (almost) never follows (this script's directory)

from selfif.config import DEFAULT_BENCHMARK

NEAR = 0.02  # a repair that changes at most this share of the characters counts as a near miss


def edited_share(a: str, b: str) -> float:
    """Share of the characters of ``a`` and ``b`` outside their longest matching blocks (0 = equal)."""
    return 1.0 - difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("responses", nargs="+", metavar="NAME=RESPONSES_JSONL")
    ap.add_argument("--benchmark", default=DEFAULT_BENCHMARK, help="IFEval: hub id or input_data.jsonl (default google/IFEval, packaged copy offline)")
    ap.add_argument("--types", nargs="*", help="instruction ids (default: the 8 stuck types of experiments/guided_ab.py)")
    ap.add_argument("--max-new-tokens", type=int, default=512, help="the evaluation's token cap")
    ap.add_argument("--model", default="smollm2-135m", help="whose tokenizer counts the tokens")
    args = ap.parse_args()

    from selfif.constraints import registry
    from selfif.eval.benchmark import load_benchmark
    from selfif.eval.ifeval import read_responses
    from selfif.eval.scoring import judge_row
    from selfif.models import load_tokenizer
    from selfif.repetition import ends_in_loop

    types = args.types or STUCK
    rows = load_benchmark(args.benchmark)
    tok = load_tokenizer(args.model)
    # Re-tokenising decoded text can differ from the generated ids by a token or two.
    at_cap = args.max_new_tokens - 4
    columns = ("answers", "pass", "fail", "loose pass", "loop", "at cap", "no repair", "near miss")
    header = "type | answers | pass | fail | of the failures: loose pass | loop | at cap | no repair | near miss (<= 2 % edited) | median edited"
    for spec in args.responses:
        name, _, path = spec.partition("=")
        answers = read_responses(path, rows)
        counts = {t: dict.fromkeys(columns, 0) for t in types}
        shares: dict[str, list[float]] = {t: [] for t in types}
        for r in rows:
            if r.prompt not in answers:
                continue
            ans = answers[r.prompt]
            verdicts = judge_row(r, ans)  # the scorer's own verdicts
            loops = capped = None  # per answer, computed once, only if one of its instructions fails
            for iid, kw, strict, loose in zip(r.instruction_id_list, r.kwargs, verdicts.strict, verdicts.loose):
                if iid not in counts:
                    continue
                c = counts[iid]
                c["answers"] += 1
                if strict:
                    c["pass"] += 1
                    continue
                if loops is None:
                    loops = ends_in_loop(ans)
                    capped = len(tok(ans, add_special_tokens=False)["input_ids"]) >= at_cap
                c["fail"] += 1
                c["loose pass"] += loose
                c["loop"] += loops
                c["at cap"] += capped
                fixed = registry.repair(iid, ans, kw, prompt=r.prompt)
                if fixed is None:
                    c["no repair"] += 1
                    continue
                shares[iid].append(edited_share(ans, fixed))
                c["near miss"] += shares[iid][-1] <= NEAR
        print(f"\n## {name} ({path})\n\n{header}\n" + "|".join(["---"] * 10))
        for t in types:
            med = f"{statistics.median(shares[t]):.3f}" if shares[t] else "-"
            print(f"{t} | " + " | ".join(str(v) for v in counts[t].values()) + f" | {med}")
        print("all | " + " | ".join(str(sum(counts[t][k] for t in types)) for k in columns) + " | -")

if __name__ == "__main__":
    main()
