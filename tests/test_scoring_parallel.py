"""Parallel IFEval scoring gives byte-identical outputs to the serial loop (real benchmark, real responses)."""

from __future__ import annotations

import json
from pathlib import Path

from selfif.eval.benchmark import load_benchmark
from selfif.eval.ifeval import write_outputs
from selfif.eval.scoring import PARALLEL_MIN_ROWS, aggregate, judge

DATA = Path(__file__).resolve().parent / "data"


def test_parallel_scoring_is_byte_identical_to_serial(tmp_path, ifeval_path):
    rows = load_benchmark(ifeval_path)[: PARALLEL_MIN_ROWS + 96]
    answers = [json.loads(line)["response"] for line in (DATA / "constraints_smollm2_responses.jsonl").read_text().splitlines()[1:]]
    # every row, a real SmolLM2 answer each (cycled), plus one row whose kwargs the verifier rejects
    responses = [answers[i % len(answers)] for i in range(len(rows))]
    bad = rows[3].model_copy(update={"kwargs": [{"no_such_kwarg": 1}] * len(rows[3].kwargs)})
    rows = [*rows[:3], bad, *rows[4:]]
    assert len(rows) >= PARALLEL_MIN_ROWS  # the pool really runs, with several chunks per worker
    out = {}
    for workers in (1, 2):
        judged = judge(responses, rows, progress=False, workers=workers)
        write_outputs(tmp_path / str(workers), judged, aggregate(judged))
        out[workers] = judged
    assert out[1].errors and out[1].errors == out[2].errors
    for name in ("responses.jsonl", "eval_results_strict.jsonl", "eval_results_loose.jsonl", "scores.json", "report.md"):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name
