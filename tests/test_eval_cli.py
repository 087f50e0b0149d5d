"""``selfif eval ifeval`` / ``selfif score ifeval`` through the real CLI, and resumable generation
with the real packaged policy (tiny runs: a few prompts, a few new tokens)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfif.cli import app
from selfif.eval.ifeval import PARTIAL, evaluate_ifeval
from selfif.generation import SamplingParams
from selfif.generation.hf import TransformersGenerator
from selfif.io import InputError, read_jsonl

from conftest import DATA
BENCH = DATA / "eval_handwritten_benchmark.jsonl"
RESP = DATA / "eval_handwritten_responses.jsonl"
OUTPUTS = ["responses.jsonl", "scores.json", "eval_results_strict.jsonl", "eval_results_loose.jsonl", "report.md", "per_instruction.png"]

runner = CliRunner()


def test_score_ifeval_cli(tmp_path):
    res = runner.invoke(app, ["score", "ifeval", str(RESP), "--benchmark", str(BENCH), "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert re.search(r"Prompt-level loose\s+66\.7 %", res.output)
    assert "1 verifier errors" in res.output
    for name in OUTPUTS:
        assert (tmp_path / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "scores.json").read_text())["instruction_level_strict"] == pytest.approx(4 / 9)


def test_score_ifeval_cli_reports_bad_line(tmp_path):
    bad = tmp_path / "resp.jsonl"
    bad.write_text(RESP.read_text().splitlines()[0] + "\n{not json\n")
    res = runner.invoke(app, ["score", "ifeval", str(bad), "--benchmark", str(BENCH), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert f"{bad}:2: not valid JSON" in res.output
    assert not (tmp_path / "o" / "scores.json").exists()


def test_eval_ifeval_cli_rejects_bad_settings_and_sources(tmp_path):
    res = runner.invoke(app, ["eval", "ifeval", "--backend", "tensorrt", "--benchmark", str(BENCH), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "--backend" in res.output and "transformers" in res.output
    # not a file and not reachable as a Hub dataset (tests run with HF_HUB_OFFLINE=1)
    res = runner.invoke(app, ["eval", "ifeval", "--benchmark", "nobody/no-such-ifeval", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "nobody/no-such-ifeval: benchmark not found locally" in res.output
    assert not (tmp_path / "scores.json").exists()


def test_eval_ifeval_cli_real_model(tmp_path):
    """Short hand-written prompts keep the CPU prefill small; the same code path as the full benchmark."""
    out = tmp_path / "eval"
    args = ["eval", "ifeval", "--model", "smollm2-135m", "--benchmark", str(BENCH), "--limit", "3", "--max-new-tokens", "16", "--out", str(out)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    assert (out / "per_instruction.png").read_bytes()[:4] == b"\x89PNG"
    responses = read_jsonl(out / "responses.jsonl")
    bench = read_jsonl(BENCH)[:3]
    assert [r["prompt"] for r in responses] == [b["prompt"] for b in bench]
    assert all(r["response"].strip() for r in responses)  # greedy SmolLM2 always says something
    scores = json.loads((out / "scores.json").read_text())
    assert scores["n_prompts"] == 3 and scores["meta"]["generated"] == 3
    assert scores["meta"]["generation"]["temperature"] == 0.0
    # rerunning the same command resumes: nothing left to generate, identical responses
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert json.loads((out / "scores.json").read_text())["meta"]["generated"] == 0
    assert read_jsonl(out / "responses.jsonl") == responses
    # different decoding settings on the same partial file are refused, not mixed in
    res = runner.invoke(app, args[:-4] + ["--max-new-tokens", "32", "--out", str(out)])
    assert res.exit_code == 2 and "max_new_tokens: 16 (then) vs 32 (now)" in res.output


def _fingerprint_as(out: Path, model: str, params: SamplingParams, generator=None) -> None:
    """Write the fingerprint that a run with these settings records (for hand-seeded partial files)."""
    from selfif.eval.ifeval import RUN_INFO, _sampling
    from selfif.generation import generator_identity
    from selfif.io import atomic_write_json
    from selfif.generation.resumable import fingerprint

    backend, prec = generator_identity(_sampling(params)[1], generator)
    atomic_write_json(out / RUN_INFO, fingerprint(model, params, prec, backend))


def test_resume_skips_answered_prompts(tmp_path, policy):
    model, tok = policy
    gen = TransformersGenerator("smollm2-135m", model=model, tokenizer=tok)
    bench = read_jsonl(BENCH)[:3]
    out = tmp_path / "run"
    out.mkdir()
    seeded = {bench[0]["prompt"]: "SEEDED ANSWER ONE", bench[2]["prompt"]: "SEEDED ANSWER THREE"}
    params = SamplingParams(max_new_tokens=8, batch_size=4)
    _fingerprint_as(out, "smollm2-135m", params, gen)  # a partial file without its fingerprint is refused
    with (out / PARTIAL).open("w") as f:
        for p, r in seeded.items():
            f.write(json.dumps({"prompt": p, "response": r}) + "\n")
        f.write('{"prompt": "torn line from a kill')  # no newline: repaired away on reopen
    scores = evaluate_ifeval("smollm2-135m", BENCH, out, limit=3, generation=params, generator=gen, progress=False)
    assert scores["meta"]["resumed"] == 2 and scores["meta"]["generated"] == 1
    final = {r["prompt"]: r["response"] for r in read_jsonl(out / "responses.jsonl")}
    assert [final[b["prompt"]] for b in (bench[0], bench[2])] == ["SEEDED ANSWER ONE", "SEEDED ANSWER THREE"]
    assert final[bench[1]["prompt"]] not in seeded.values() and final[bench[1]["prompt"]].strip()
    partial = read_jsonl(out / PARTIAL)  # every line whole again, the new answer appended once
    assert [r["prompt"] for r in partial] == [bench[0]["prompt"], bench[2]["prompt"], bench[1]["prompt"]]
    with pytest.raises(InputError, match="temperature"):
        evaluate_ifeval("smollm2-135m", BENCH, out, limit=3, generation=SamplingParams(max_new_tokens=8, temperature=0.7), generator=gen)


def test_resume_refuses_answers_of_a_retrained_checkpoint(tmp_path):
    """A policy retrained into the same directory must not inherit the old policy's answers."""
    from selfif.eval.benchmark import load_benchmark
    from selfif.eval.ifeval import generate_responses

    ckpt = tmp_path / "policy"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    (ckpt / "model.safetensors").write_bytes(b"old weights")
    rows = load_benchmark(BENCH, limit=2)
    out = tmp_path / "eval"
    out.mkdir()
    (out / PARTIAL).write_text("".join(json.dumps({"prompt": r.prompt, "response": f"answer {r.key}"}) + "\n" for r in rows))
    with pytest.raises(InputError, match="generation.json .* is missing"):  # made by what? refused
        generate_responses(str(ckpt), rows, out, SamplingParams(max_new_tokens=8))
    _fingerprint_as(out, str(ckpt), SamplingParams(max_new_tokens=8))
    done, counts = generate_responses(str(ckpt), rows, out, SamplingParams(max_new_tokens=8))
    assert (counts["resumed"], counts["generated"]) == (2, 0) and done[rows[1].prompt] == "answer 2"
    (ckpt / "model.safetensors").write_bytes(b"new weights after training")
    with pytest.raises(InputError, match="checkpoint"):
        generate_responses(str(ckpt), rows, out, SamplingParams(max_new_tokens=8))
