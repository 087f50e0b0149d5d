"""Paired bootstrap intervals on before/after IFEval deltas: known answers, determinism, pairing,
and the real paths that carry them (``selfif score ifeval --baseline``, ``selfif eval compare``,
the benchmark's ``instruction_types`` filter)."""

from __future__ import annotations

import json
import math
import random
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from selfif.cli import app
from selfif.eval.bootstrap import ComparisonError, PromptVerdicts, compare_dirs, paired_bootstrap
from selfif.eval.report import compare_report, delta_summary

DATA = Path(__file__).resolve().parent / "data"
runner = CliRunner()


@pytest.fixture
def handwritten(tmp_path) -> tuple[Path, Path]:
    """(benchmark, responses): the hand-written eval fixture without its deliberately bad-kwargs row 6."""
    rows = [json.loads(ln) for ln in (DATA / "eval_handwritten_benchmark.jsonl").read_text().splitlines() if ln.strip()]
    good = [r for r in rows if r["key"] != 6]
    prompts = {r["prompt"] for r in good}
    bench, resp = tmp_path / "bench.jsonl", tmp_path / "responses.jsonl"
    bench.write_text("".join(json.dumps(r) + "\n" for r in good))
    resp.write_text("".join(ln + "\n" for ln in (DATA / "eval_handwritten_responses.jsonl").read_text().splitlines()
                            if ln.strip() and json.loads(ln)["prompt"] in prompts))
    return bench, resp


def _rows(flags: list[tuple[bool, ...]], ids: tuple[str, ...] = ("a:x", "b:y")) -> dict[str, PromptVerdicts]:
    """Prompt i gets instruction ids ``ids`` (first len(flags[i]) of them) with strict = loose = flags[i]."""
    return {f"p{i}": PromptVerdicts(ids[: len(f)], tuple(f), tuple(f)) for i, f in enumerate(flags)}


def test_identical_runs_give_zero_delta_and_zero_interval():
    rng = random.Random(1)
    rows = _rows([(rng.random() < 0.4, rng.random() < 0.6) for _ in range(50)])
    c = paired_bootstrap(rows, rows, resamples=2000)
    for k, e in c["overall"].items():
        assert (e["delta"], e["low"], e["high"], e["excludes_zero"]) == (0.0, 0.0, 0.0, False), k
    for t, e in c["per_instruction"].items():
        assert (e["strict"]["low"], e["strict"]["high"]) == (0.0, 0.0), t
    assert "no effect distinguishable from noise at 95 %" in delta_summary(c)


def test_every_prompt_flipping_to_pass_excludes_zero():
    before = _rows([(False, False)] * 30)
    after = _rows([(True, True)] * 30)
    c = paired_bootstrap(before, after)
    e = c["overall"]["prompt_level_strict"]
    assert (e["before"], e["after"], e["delta"], e["low"], e["high"]) == (0.0, 1.0, 1.0, 1.0, 1.0)
    assert e["excludes_zero"]
    # half the prompts flip, the rest stay failing: the gain is still clear, and the interval is not degenerate
    after_half = _rows([(True, True)] * 15 + [(False, False)] * 15)
    e = paired_bootstrap(before, after_half)["overall"]["instruction_level_strict"]
    assert e["delta"] == pytest.approx(0.5) and 0 < e["low"] < 0.5 < e["high"] < 1
    assert e["excludes_zero"]


def test_small_noisy_change_includes_zero():
    # 40 prompts: 3 fail->pass, 2 pass->fail, the rest unchanged; the demo's situation
    before = _rows([(False,)] * 3 + [(True,)] * 2 + [(True,)] * 10 + [(False,)] * 25)
    after = _rows([(True,)] * 3 + [(False,)] * 2 + [(True,)] * 10 + [(False,)] * 25)
    c = paired_bootstrap(before, after)
    e = c["overall"]["prompt_level_strict"]
    assert e["delta"] == pytest.approx(1 / 40)
    assert e["low"] < 0 < e["high"] and not e["excludes_zero"]
    assert "no effect distinguishable from noise at 95 %" in compare_report({}, {}, comparison=c)


@pytest.mark.parametrize("n", [40, 144])
def test_one_directional_gain_threshold(n):
    """Known answer: with k prompts gained and none lost, the lower bound is 0 exactly when a replicate
    draws none of the k often enough, P = (1 - k/n)^n; that is above 2.5 % for k = 3 and below for k = 4."""
    for k, excludes in ((3, False), (4, True)):
        assert ((1 - k / n) ** n < 0.025) == excludes
        e = paired_bootstrap(_rows([(False,)] * n), _rows([(True,)] * k + [(False,)] * (n - k)))["overall"]["prompt_level_strict"]
        assert e["excludes_zero"] == excludes and (e["low"] > 0) == excludes


def test_interval_matches_the_normal_approximation_on_a_large_sample():
    """Known answer: for a paired mean of d_i in {-1, 0, 1}, the bootstrap percentile interval is
    close to mean +- 1.96 * sd / sqrt(n) when n is large."""
    rng = np.random.default_rng(7)
    n = 800
    b = rng.random(n) < 0.3
    a = np.where(rng.random(n) < 0.25, ~b, b)  # a quarter of the prompts flip either way
    a[:60] = True  # plus a real gain
    c = paired_bootstrap(_rows([(x,) for x in b]), _rows([(x,) for x in a]), resamples=8000, seed=3)
    d = a.astype(float) - b.astype(float)
    half = 1.96 * d.std(ddof=1) / math.sqrt(n)
    e = c["overall"]["prompt_level_strict"]
    assert e["delta"] == pytest.approx(d.mean())
    assert e["low"] == pytest.approx(d.mean() - half, abs=0.006)
    assert e["high"] == pytest.approx(d.mean() + half, abs=0.006)


def test_instruction_level_resamples_whole_prompts():
    """One prompt carries 8 instructions that all flip: clustered by prompt, the instruction-level
    interval is as wide as that one prompt's weight, not the narrow one of 8 independent flips."""
    ids = tuple(f"t:{i}" for i in range(8))
    before = {f"p{i}": PromptVerdicts(ids[:1], (False,), (False,)) for i in range(19)}
    after = dict(before)
    before["big"] = PromptVerdicts(ids, (False,) * 8, (False,) * 8)
    after["big"] = PromptVerdicts(ids, (True,) * 8, (True,) * 8)
    e = paired_bootstrap(before, after, resamples=4000)["overall"]["instruction_level_strict"]
    assert e["delta"] == pytest.approx(8 / 27)
    assert e["low"] == 0.0  # in some replicates the one improving prompt is not drawn at all
    assert not e["excludes_zero"]


def test_deterministic_seed_and_independent_of_row_order():
    rng = random.Random(5)
    flags_b = [(rng.random() < 0.3, rng.random() < 0.5) for _ in range(60)]
    flags_a = [(x or rng.random() < 0.2, y) for x, y in flags_b]
    before, after = _rows(flags_b), _rows(flags_a)
    one = paired_bootstrap(before, after, seed=11)
    assert paired_bootstrap(before, after, seed=11) == one
    shuffled_keys = list(after)
    rng.shuffle(shuffled_keys)
    assert paired_bootstrap(before, {k: after[k] for k in shuffled_keys}, seed=11) == one
    other = paired_bootstrap(before, after, seed=12)
    assert other["overall"]["prompt_level_strict"]["delta"] == one["overall"]["prompt_level_strict"]["delta"]
    assert other != one  # the seed does drive the draws


def test_mismatched_prompts_or_ids_are_refused():
    before = _rows([(True,), (False,), (True,)])
    with pytest.raises(ComparisonError, match=r"not the same prompts: 1 only in before, 0 only in after"):
        paired_bootstrap(before, {k: before[k] for k in ("p0", "p1")})
    changed = dict(before, p1=PromptVerdicts(("b:y",), (False,), (False,)))
    with pytest.raises(ComparisonError, match=r"'p1' has instruction ids \['a:x'\] before but \['b:y'\] after"):
        paired_bootstrap(before, changed)
    with pytest.raises(ComparisonError, match="no prompts"):
        paired_bootstrap({}, {})


def _score(tmp_path: Path, bench: Path, name: str, responses: Path, *extra: str) -> Path:
    out = tmp_path / name
    res = runner.invoke(app, ["score", "ifeval", str(responses), "--benchmark", str(bench), "--out", str(out), *extra])
    assert res.exit_code == 0, res.output
    return out


def test_score_with_baseline_and_eval_compare_cli(tmp_path, handwritten):
    bench, resp = handwritten
    before = _score(tmp_path, bench, "before", resp)
    # "after": every response upper-cased -- real verdicts change (all-capitals passes, lowercase fails)
    upper = tmp_path / "upper.jsonl"
    upper.write_text("".join(json.dumps({"prompt": r["prompt"], "response": r["response"].upper()}) + "\n"
                             for r in map(json.loads, resp.read_text().splitlines()) if r))
    after = _score(tmp_path, bench, "after", upper, "--baseline", str(before))
    stored = json.loads((after / "scores.json").read_text())["comparison"]
    assert stored["before"] == str(before) and stored["n_prompts"] == 5
    assert stored["overall"] == compare_dirs(before, after)["overall"]  # one computation, reproducible from the dirs
    assert re.search(r"- \*\*Prompt-level strict\*\*: [\d.]+ → [\d.]+, [+-]\d+\.\d pp \[[+-]\d+\.\d, [+-]\d+\.\d\]: ",
                     (after / "report.md").read_text())

    res = runner.invoke(app, ["eval", "compare", str(before), str(after), "--out", str(tmp_path / "cmp")])
    assert res.exit_code == 0, res.output
    assert "IFEval after vs before, 5 prompts, 95 % paired bootstrap: prompt strict" in res.output
    saved = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert saved["overall"] == stored["overall"]
    assert re.search(r"\| Prompt-level strict \| [\d.]+ \| [\d.]+ \| [+-]\d+\.\d pp \[[+-]\d+\.\d, [+-]\d+\.\d\] \|",
                     (tmp_path / "cmp" / "compare.md").read_text())

    # the run report (selfif run's report.md) shows the same intervals, with the plain verdict
    from selfif.config import PipelineConfig
    from selfif.layout import EVAL_AFTER, EVAL_BEFORE
    from selfif.report import write_report

    run = tmp_path / "run"
    shutil.copytree(before, run / EVAL_BEFORE)
    shutil.copytree(after, run / EVAL_AFTER)
    text = write_report(PipelineConfig(), run).read_text()
    ov = stored["overall"]["prompt_level_strict"]
    assert f"- **Prompt-level strict**: {100 * ov['before']:.1f} → {100 * ov['after']:.1f}, {100 * ov['delta']:+.1f} pp [" in text
    assert ("interval excludes zero" if ov["excludes_zero"] else "no effect distinguishable from noise at 95 %") in text

    # a baseline scored on other prompts is not a paired sample: a one-line error, exit 2
    fewer = tmp_path / "fewer.jsonl"
    fewer.write_text("".join(resp.read_text().splitlines(keepends=True)[:3]))
    part = _score(tmp_path, bench, "part", fewer)
    res = runner.invoke(app, ["eval", "compare", str(part), str(after)])
    assert res.exit_code == 2 and f"error: {part} vs {after}: not the same prompts" in res.output and "Traceback" not in res.output
    strict = after / "eval_results_strict.jsonl"
    lines = strict.read_text().splitlines(keepends=True)
    (tmp_path / "dup").mkdir()
    shutil.copy(after / "eval_results_loose.jsonl", tmp_path / "dup")
    (tmp_path / "dup" / strict.name).write_text("".join(lines + lines[:1]))
    res = runner.invoke(app, ["eval", "compare", str(before), str(tmp_path / "dup")])
    assert res.exit_code == 2 and f"{tmp_path / 'dup' / strict.name}:{len(lines) + 1}: prompt scored twice" in res.output
    res = runner.invoke(app, ["eval", "compare", str(tmp_path / "nowhere"), str(after)])
    assert res.exit_code == 2 and "eval_results_strict.jsonl: file does not exist" in res.output


def test_benchmark_restricted_to_instruction_types(handwritten):
    from selfif.eval.benchmark import load_benchmark
    from selfif.io import InputError

    bench = handwritten[0]
    rows = load_benchmark(bench)
    wanted = rows[0].instruction_id_list[0]
    kept = load_benchmark(bench, instruction_types=[wanted])
    assert kept and all(wanted in r.instruction_id_list for r in kept)
    assert len(kept) == sum(wanted in r.instruction_id_list for r in rows)
    assert load_benchmark(bench, limit=1, instruction_types=[wanted]) == kept[:1]
    with pytest.raises(InputError, match="unknown instruction type 'no:such'"):
        load_benchmark(bench, instruction_types=["no:such"])


def test_focused_eval_with_baseline_through_the_real_policy(tmp_path, policy, handwritten):
    """The wiring a focused demo uses: eval restricted to instruction types, the after-eval paired
    with the before-eval, and the line ``selfif run`` prints last (same greedy policy twice: delta 0)."""
    from selfif.eval.ifeval import evaluate_ifeval
    from selfif.generation import SamplingParams
    from selfif.generation.hf import TransformersGenerator
    from selfif.layout import EVAL_AFTER, EVAL_BEFORE
    from selfif.report import delta_line

    model, tok = policy
    gen = TransformersGenerator("smollm2-135m", model=model, tokenizer=tok)
    kw = dict(generation=SamplingParams(4, 0.0, 1.0, 0, 2), generator=gen, progress=False, instruction_types=["punctuation:no_comma"])
    bench = handwritten[0]
    before = evaluate_ifeval("smollm2-135m", bench, tmp_path / EVAL_BEFORE, **kw)
    # the after-eval resumes the same answers instead of generating them again (keeps the test fast)
    shutil.copytree(tmp_path / EVAL_BEFORE, tmp_path / EVAL_AFTER)
    after = evaluate_ifeval("smollm2-135m", bench, tmp_path / EVAL_AFTER, baseline=tmp_path / EVAL_BEFORE, **kw)
    assert after["meta"]["generated"] == 0
    assert before["n_prompts"] == 2 and before["meta"]["instruction_types"] == ["punctuation:no_comma"]
    c = after["comparison"]
    assert c["n_prompts"] == 2 and all((e["low"], e["high"]) == (0.0, 0.0) for e in c["overall"].values())
    line = delta_line(tmp_path)
    assert line.startswith("IFEval after vs before, 2 prompts (only those asking for punctuation:no_comma), "
                           "95 % paired bootstrap: prompt strict")
    assert line.endswith("no effect distinguishable from noise at 95 %")
    with pytest.raises(ComparisonError, match="baseline scored 2 prompts, this evaluation has 5"):
        evaluate_ifeval("smollm2-135m", bench, tmp_path / "all", baseline=tmp_path / EVAL_BEFORE,
                        **{**kw, "instruction_types": None})
    assert not (tmp_path / "all").exists()  # refused before generating anything
