"""Regenerate ``constraints_smollm2_responses.jsonl``: real greedy responses of the default policy.

The parity tests compare our IFEval verifiers with the official checkers on *real* model output,
because a weak model's answers exercise the checkers' edge paths (half-followed formats, stray
markdown) far better than hand-written text. Selection is deterministic: every 9th row of the
official IFEval input file (60 prompts). Decoding is greedy, 128 new tokens, batches of 10 in the
generator's longest-first order, so a rerun on the same package versions reproduces the file.
Resumable: finished batches are appended to ``constraints_smollm2_responses.partial.jsonl``.

Usage: ``HF_HUB_OFFLINE=1 python tests/data/constraints_make_responses.py [--finalize]``
(``--finalize`` writes the fixture from the batches finished so far, without generating more.)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from selfif.eval.benchmark import PACKAGED_IFEVAL
from selfif.generation import SamplingParams, make_generator
from selfif.io import JsonlAppender, read_jsonl, write_jsonl

HERE = Path(__file__).resolve().parent
IFEVAL = PACKAGED_IFEVAL
OUT = HERE / "constraints_smollm2_responses.jsonl"
STRIDE, N, MAX_NEW = 9, 60, 128
PARTIAL = OUT.with_suffix(".partial.jsonl")


def main() -> int:
    finalize = "--finalize" in sys.argv[1:]
    rows = read_jsonl(IFEVAL)[::STRIDE][:N]
    with JsonlAppender(PARTIAL) as log:
        done = {r["key"]: r["response"] for r in log.existing()}
        todo = [r for r in rows if r["key"] not in done]
        if finalize:
            rows = [r for r in rows if r["key"] in done]
        elif todo:
            gen = make_generator("smollm2-135m", backend="transformers")
            params = SamplingParams(max_new_tokens=MAX_NEW, batch_size=10)
            for idx, outs in gen.iter_generate([r["prompt"] for r in todo], params, desc="fixture"):
                for i, o in zip(idx, outs):
                    log.write({"key": todo[i]["key"], "response": o})
                    done[todo[i]["key"]] = o
    texts = [done[r["key"]] for r in rows]
    which = f"every {STRIDE}th IFEval prompt" if len(rows) == N else f"{len(rows)} of every {STRIDE}th IFEval prompt (finalized early)"
    header = {"_comment": f"greedy SmolLM2-135M-Instruct (smollm2-135m), max_new_tokens={MAX_NEW}, {which}; made by tests/data/constraints_make_responses.py"}
    write_jsonl(OUT, [header] + [{"key": r["key"], "prompt": r["prompt"], "response": t} for r, t in zip(rows, texts)])
    if not finalize:
        PARTIAL.unlink()
    print(json.dumps({"written": str(OUT), "n": len(rows)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
