"""Why a policy's answers still fail the instruction types it rarely follows (issue 12): for each
type, of its IFEval instructions that fail strictly, how many answers end in a repetition loop, run
to the token cap, pass loosely, and how far they are from passing, measured as the share of
characters the type's repair (``selfif.constraints.registry.repair``) has to change.

A failure the repair fixes by changing 1 % of the characters (a stray capital, a missing closing
quote) is a near miss that more of the same training may close; one with no repair, or one that
loops to the cap, needs something else. Reads stored answers only: no model is run, the packaged
tokenizer is loaded to count tokens.

    python benchmarks/stuck_failures.py --benchmark ../shared/benchmarks/ifeval_input_data.jsonl \\
        base=results/ifeval/smollm2-135m-base/responses.jsonl after=results/ifeval/cpu-2h-s600b/responses.jsonl
"""

from __future__ import annotations

import argparse
import difflib
import statistics

# The 8 types the base policy (almost) never follows: the cpu-2h warm-start's list.
STUCK = (
    "change_case:english_lowercase", "change_case:english_capital", "startend:quotation",
    "combination:repeat_prompt", "combination:two_responses", "length_constraints:nth_paragraph_first_word",
    "length_constraints:number_paragraphs", "detectable_format:number_bullet_lists",
)  # fmt: skip
NEAR = 0.02  # a repair that changes at most this share of the characters counts as a near miss


def edited_share(a: str, b: str) -> float:
    """Share of the characters of ``a`` and ``b`` outside their longest matching blocks (0 = equal)."""
    return 1.0 - difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("responses", nargs="+", metavar="NAME=RESPONSES_JSONL")
    ap.add_argument("--benchmark", required=True, help="IFEval input_data.jsonl")
    ap.add_argument("--types", nargs="*", default=list(STUCK))
    ap.add_argument("--max-new-tokens", type=int, default=512, help="the evaluation's token cap")
    ap.add_argument("--model", default="smollm2-135m", help="whose tokenizer counts the tokens")
    args = ap.parse_args()

    from selfif.constraints import registry
    from selfif.eval.benchmark import load_benchmark
    from selfif.eval.ifeval import read_responses
    from selfif.models import load_tokenizer
    from selfif.repetition import ends_in_loop

    rows = load_benchmark(args.benchmark)
    tok = load_tokenizer(args.model)
    # Re-tokenising decoded text can differ from the generated ids by a token or two.
    at_cap = args.max_new_tokens - 4
    header = "type | answers | pass | fail | of the failures: loose pass | loop | at cap | no repair | near miss (<= 2 % edited) | median edited"
    for spec in args.responses:
        name, _, path = spec.partition("=")
        answers = read_responses(path, rows)
        print(f"\n## {name} ({path})\n\n{header}\n" + "|".join(["---"] * 10))
        total = [0] * 9
        for t in args.types:
            n = ok = loose = loop = cap = norep = near = 0
            shares = []
            for r in rows:
                if r.prompt not in answers:
                    continue
                ans = answers[r.prompt]
                for iid, kw in zip(r.instruction_id_list, r.kwargs):
                    if iid != t:
                        continue
                    n += 1
                    if registry.verify(iid, ans, kw, prompt=r.prompt):
                        ok += 1
                        continue
                    loose += registry.verify(iid, ans, kw, loose=True, prompt=r.prompt)
                    loop += ends_in_loop(ans)
                    cap += len(tok(ans, add_special_tokens=False)["input_ids"]) >= at_cap
                    fixed = registry.repair(iid, ans, kw, prompt=r.prompt)
                    if fixed is None:
                        norep += 1
                        continue
                    s = edited_share(ans, fixed)
                    shares.append(s)
                    near += s <= NEAR
            fail = n - ok
            med = f"{statistics.median(shares):.3f}" if shares else "-"
            print(f"{t} | {n} | {ok} | {fail} | {loose} | {loop} | {cap} | {norep} | {near} | {med}")
            for i, v in enumerate((n, ok, fail, loose, loop, cap, norep, near)):
                total[i] += v
        print("all | " + " | ".join(str(v) for v in total[:8]) + " | -")


if __name__ == "__main__":
    main()
