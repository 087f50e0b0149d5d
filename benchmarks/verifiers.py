"""Time our IFEval scorer against the official checkers on the same responses, and check verdicts.

Every IFEval row (541 prompts, 834 instructions) is scored strict and loose, with response i taken
from the committed SmolLM2 fixture (cycled). Both scorers start cold for every row: our memoised
text measurements are cleared before each row, so no work is reused across rows; the only reuse
is within one response (strict and loose variants, several instructions), as in a real
evaluation. The official checkers run exactly as IFEval's evaluation runs them (checker built per
instruction, ``None`` kwargs dropped, loose stops at the first passing variant), with the offline
Punkt model and seeded langdetect.

Usage: ``python benchmarks/verifiers.py [--rows N] [--responses FILE] [--repeat R] [--copies K]``
Prints instruction checks per second for both, the speed ratio, and the verdict agreement.

Then the whole process, as a user runs it: ``selfif score ifeval`` (every core, all outputs:
official per-row files, scores, report, plot) against one process running the official checkers
over the same file and writing the official per-row files, on K copies of the benchmark (each
copy's prompts made unique) -- startup and imports included. The last line is that ratio,
``speedup X.XXx``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

from selfif.eval.benchmark import PACKAGED_IFEVAL as IFEVAL  # the official IFEval file, shipped with selfif

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "data" / "constraints_smollm2_responses.jsonl"
sys.path.insert(0, str(REPO / "tests"))  # the one official-checker shim: tests/oracle.py
_SHIMS = contextlib.ExitStack()


def official_scorer():
    """The official checkers with the offline shims of ``tests/oracle.py`` (langdetect not memoised:
    the official side is timed cold, as IFEval runs it)."""
    from oracle import offline_checkers, official_row

    _SHIMS.enter_context(offline_checkers(memoise_langdetect=False))  # installed for the rest of this process
    return official_row


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
    ap.add_argument("--copies", type=int, default=26, help="whole-process part: benchmark copies scored (541 rows each; 26 = 14,066 responses, the size of the first speed comparison with the official checkers)")
    ap.add_argument("--official-process", nargs=3, type=Path, metavar=("BENCH", "RESPONSES", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.official_process:
        return official_process(*args.official_process)

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
    from oracle import undefined_officially

    keep = [not undefined_officially(iid, kw) for row, _ in pairs for iid, kw in zip(row["instruction_id_list"], row["kwargs"])]
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
    t_off_proc, t_ours_proc, n_rows = whole_process(rows, [resp for _, resp in pairs], args.copies)
    print(f"whole process, {n_rows} responses: official checkers {t_off_proc:.1f} s, `selfif score ifeval` {t_ours_proc:.1f} s "
          f"({default_workers()} cores)")
    print(f"speedup {t_off_proc / t_ours_proc:.2f}x")
    return 0 if agree_strict == agree_loose == len(flat_o) else 1


def default_workers() -> int:
    from selfif.eval.scoring import default_workers as cores

    return cores()


def whole_process(rows: list[dict], responses: list[str], copies: int) -> tuple[float, float, int]:
    """Wall time of two fresh processes on the same benchmark and responses files (best of two each)."""
    import shutil
    import subprocess
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="verifiers-bench-"))
    bench, resp = tmp / "bench.jsonl", tmp / "responses.jsonl"
    with bench.open("w") as fb, resp.open("w") as fr:
        for k in range(copies):
            for i, (row, text) in enumerate(zip(rows, responses)):
                prompt = row["prompt"] if k == 0 else f"{row['prompt']} (copy {k})"
                fb.write(json.dumps({**row, "key": k * 100_000 + row["key"], "prompt": prompt}) + "\n")
                fr.write(json.dumps({"prompt": prompt, "response": text}) + "\n")
    selfif = Path(sys.executable).with_name("selfif")
    cmds = {
        "official": [sys.executable, __file__, "--official-process", str(bench), str(resp), str(tmp / "official")],
        "ours": [str(selfif), "score", "ifeval", str(resp), "--benchmark", str(bench), "--out", str(tmp / "ours")],
    }
    best = {name: float("inf") for name in cmds}
    for _ in range(2):
        for name, cmd in cmds.items():
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            best[name] = min(best[name], time.perf_counter() - t0)
    from oracle import undefined_officially

    defined = [not any(undefined_officially(i, kw) for i, kw in zip(r["instruction_id_list"], r["kwargs"])) for r in rows] * copies
    for loose in ("strict", "loose"):  # same verdicts, row by row, as the in-process check above
        a = [json.loads(x)["follow_instruction_list"] for x in (tmp / "official" / f"eval_results_{loose}.jsonl").open()]
        b = [json.loads(x)["follow_instruction_list"] for x in (tmp / "ours" / f"eval_results_{loose}.jsonl").open()]
        same = sum(x == y for x, y, d in zip(a, b, defined) if d)
        print(f"whole process {loose}: {same}/{sum(defined)} rows with identical verdicts "
              f"({len(a) - sum(defined)} rows with the letter_frequency deviation excluded)")
    shutil.rmtree(tmp, ignore_errors=True)
    return best["official"], best["ours"], copies * len(rows)


def official_process(bench: Path, resp: Path, out: Path) -> int:
    """What IFEval's evaluation_main does: every row through the official checkers, official files out."""
    import logging

    logging.disable(logging.ERROR)
    score = official_scorer()
    answers = {r["prompt"]: r["response"] for r in map(json.loads, resp.open())}
    out.mkdir(parents=True, exist_ok=True)
    files = {m: (out / f"eval_results_{m}.jsonl").open("w") for m in ("strict", "loose")}
    for row in map(json.loads, bench.open()):
        verdicts = score(row, answers[row["prompt"]])
        for m, j in (("strict", 0), ("loose", 1)):
            follow = [v[j] for v in verdicts]
            files[m].write(json.dumps({"instruction_id_list": row["instruction_id_list"], "prompt": row["prompt"],
                                       "response": answers[row["prompt"]], "follow_all_instructions": all(follow),
                                       "follow_instruction_list": follow}) + "\n")
    for f in files.values():
        f.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
