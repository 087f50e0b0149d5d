"""Time our IFEval scorer against the official checkers on the same responses, and check verdicts.

Every IFEval row (541 prompts, 834 instructions) is scored strict and loose, with response i taken
from the committed SmolLM2 fixture (cycled). Both scorers start cold for every row: our memoised
text measurements are cleared before each row, so no work is reused across rows; the only reuse
is within one response (strict and loose variants, several instructions), as in a real
evaluation. The official checkers run exactly as IFEval's evaluation runs them (checker built per
instruction, ``None`` kwargs dropped, loose stops at the first passing variant), with the offline
Punkt model and seeded langdetect.

Usage: ``python benchmarks/verifiers.py [--rows N] [--responses FILE] [--repeat R]``
Prints instruction checks per second for both, the speed ratio, and the verdict agreement.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IFEVAL = REPO.parent / "shared" / "benchmarks" / "ifeval_input_data.jsonl"
FIXTURE = REPO / "tests" / "data" / "constraints_smollm2_responses.jsonl"


def official_scorer():
    """The official checkers with the offline shims (Punkt from ``punkt``, seeded langdetect)."""
    import nltk
    import punkt
    from if_verifiable.ifeval import instructions_util as util
    from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT
    from langdetect import DetectorFactory

    DetectorFactory.seed = 0
    tok = punkt.tokenizer_for("english")
    util._get_sentence_tokenizer = lambda: tok
    nltk.tokenize.sent_tokenize = lambda text, language="english": tok.tokenize(text)

    def variants(r: str) -> list[str]:
        lines = r.split("\n")
        base = [r, "\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(), "\n".join(lines[1:-1]).strip()]
        return base + [b.replace("*", "") for b in base]

    def score(row: dict, response: str) -> list[tuple[bool, bool]]:
        out = []
        vs = variants(response)
        for iid, kw in zip(row["instruction_id_list"], row["kwargs"]):
            checker = INSTRUCTION_DICT[iid](iid)
            checker.build_description(**{k: v for k, v in kw.items() if v is not None})
            args = checker.get_instruction_args()
            if args and "prompt" in args:
                checker.build_description(prompt=row["prompt"])
            strict = bool(response.strip() and checker.check_following(response))
            loose = any(v.strip() and checker.check_following(v) for v in vs)
            out.append((strict, loose))
        return out

    return score


def our_scorer():
    from selfif.constraints import registry, text

    def score(row: dict, response: str) -> list[tuple[bool, bool]]:
        text.clear_caches()
        registry._BOUND.clear()
        return [
            (
                registry.verify(iid, response, kw, prompt=row["prompt"]),
                registry.verify(iid, response, kw, loose=True, prompt=row["prompt"]),
            )
            for iid, kw in zip(row["instruction_id_list"], row["kwargs"])
        ]

    return score


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=None, help="score only the first N IFEval rows")
    ap.add_argument("--responses", type=Path, default=FIXTURE)
    ap.add_argument("--repeat", type=int, default=3, help="timed passes per scorer, interleaved; the best is reported")
    args = ap.parse_args(argv)

    from selfif.io import read_jsonl

    rows = read_jsonl(IFEVAL)[: args.rows]
    responses = [r["response"] for r in read_jsonl(args.responses) if "response" in r]
    pairs = [(row, responses[i % len(responses)]) for i, row in enumerate(rows)]
    n_instr = sum(len(r["instruction_id_list"]) for r in rows)

    import logging

    logging.disable(logging.ERROR)  # the official checkers log every undetectable language; keep output readable
    ours, official = our_scorer(), official_scorer()
    # Warm-up outside the timings: imports, Punkt model, langdetect profiles, NLTK tokenizer.
    warm = {"prompt": "x", "instruction_id_list": ["language:response_language", "change_case:capital_word_frequency", "length_constraints:number_sentences"],
            "kwargs": [{"language": "en"}, {"capital_frequency": 1, "capital_relation": "at least"}, {"num_sentences": 1, "relation": "at least"}]}
    ours(warm, "Hello WORLD. Fine.")
    official(warm, "Hello WORLD. Fine.")

    # Interleaved passes, best of each: a shared machine's load swings between passes.
    t_official = t_ours = float("inf")
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        got_official = [official(row, resp) for row, resp in pairs]
        t_official = min(t_official, time.perf_counter() - t0)
        t0 = time.perf_counter()
        got_ours = [ours(row, resp) for row, resp in pairs]
        t_ours = min(t_ours, time.perf_counter() - t0)

    # Documented deviation: keywords:letter_frequency with a non-letter "letter" (IFEval has a few,
    # e.g. "#" and "!"): the official checker verifies a random letter, ours the named character.
    keep = [
        not (iid == "keywords:letter_frequency" and not (len(kw.get("letter") or "") == 1 and kw["letter"].isascii() and kw["letter"].isalpha()))
        for row, _ in pairs
        for iid, kw in zip(row["instruction_id_list"], row["kwargs"])
    ]
    flat_o = [v for r in got_official for v in r]
    flat_u = [v for r in got_ours for v in r]
    excluded = keep.count(False)
    flat_o = [v for v, k in zip(flat_o, keep) if k]
    flat_u = [v for v, k in zip(flat_u, keep) if k]
    agree_strict = sum(a[0] == b[0] for a, b in zip(flat_o, flat_u))
    agree_loose = sum(a[1] == b[1] for a, b in zip(flat_o, flat_u))
    result = {
        "rows": len(rows),
        "instructions": n_instr,
        "official_s": round(t_official, 3),
        "ours_s": round(t_ours, 3),
        "official_checks_per_s": round(n_instr / t_official, 1),
        "ours_checks_per_s": round(n_instr / t_ours, 1),
        "speedup": round(t_official / t_ours, 2),
        "agree_strict": f"{agree_strict}/{len(flat_o)}",
        "agree_loose": f"{agree_loose}/{len(flat_o)}",
        "excluded_letter_frequency_non_letters": excluded,
    }
    print(f"official : {result['official_checks_per_s']:>9} instruction checks/s (strict+loose), {t_official:.2f}s")
    print(f"ours     : {result['ours_checks_per_s']:>9} instruction checks/s (strict+loose), {t_ours:.2f}s")
    print(
        f"speedup  : {result['speedup']}x   verdict agreement strict {result['agree_strict']}, loose {result['agree_loose']} "
        f"({excluded} letter_frequency checks with a non-letter excluded: documented deviation)"
    )
    result["repeat"] = args.repeat
    print(json.dumps(result))
    return 0 if agree_strict == agree_loose == len(flat_o) else 1


if __name__ == "__main__":
    sys.exit(main())
