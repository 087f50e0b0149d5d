"""Answers ending in a repetition loop (selfif.repetition): the definition on real policy answers,
its edge cases, and the share carried through scores.json, report.md and the paired comparison."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from selfif.cli import app
from selfif.eval.bootstrap import PromptVerdicts, paired_bootstrap
from selfif.repetition import MIN_REPEATED, N, ends_in_loop, loop_summary, repeated_share

DATA = Path(__file__).resolve().parent / "data"
ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def _smollm2_answers() -> dict[int, str]:
    """key -> greedy answer of the packaged policy (128 tokens) to every 9th IFEval prompt."""
    rows = [json.loads(ln) for ln in (DATA / "constraints_smollm2_responses.jsonl").read_text().splitlines() if ln.strip()]
    return {r["key"]: r["response"] for r in rows if "key" in r}


def test_real_policy_answers_read_as_a_person_would():
    answers = _smollm2_answers()
    # read by eye: each ends repeating one sentence, line or phrase until the token cap
    for key in (1375, 1546, 2195, 2309, 3114, 3478, 3567):
        assert ends_in_loop(answers[key]), (key, answers[key][-120:])
    # prose that wanders but does not loop, and a letter that ends normally
    for key in (1069, 163, 1880, 2909, 1705):
        assert not ends_in_loop(answers[key]), (key, answers[key][-120:])
    assert 0 < sum(map(ends_in_loop, answers.values())) < len(answers)


def test_edges_short_counted_unicode_and_prose():
    assert repeated_share("") == 0.0 and not ends_in_loop("")
    short = "one two three four five six " * 3  # 18 tokens < 4 x N
    assert len(short.split()) < 4 * N and not ends_in_loop(short)
    counted = "".join(f"{i}. Bring a towel to the beach:\n" for i in range(1, 40))
    assert ends_in_loop(counted)  # digits are read as 0, so a counter does not hide the loop
    assert ends_in_loop("日本語の文章です。" * 60 + "終")  # \w covers CJK: one token per run of letters
    prose = (ROOT / "README.md").read_text()[:4000]
    assert repeated_share(prose) < MIN_REPEATED / 4 and not ends_in_loop(prose)
    # a loop that starts late counts once it fills the second half; one that fills a third does not
    head = prose[:2000]
    assert ends_in_loop(head + " The end is near." * 200)
    assert not ends_in_loop(head + " The end is near." * 15)


def test_summary_counts_and_pass_rates():
    loop = "I saw a dog. " * 40
    s = loop_summary([loop, loop, "Fine.", "Also fine."], [True, False, False, False])
    assert (s["answers"], s["looping"], s["share"]) == (4, 2, 0.5)
    assert (s["prompt_strict_looping"], s["prompt_strict_other"]) == (0.5, 0.0)
    none = loop_summary(["Fine."], [True])
    assert none["looping"] == 0 and none["prompt_strict_looping"] is None and none["prompt_strict_other"] == 1.0


def test_paired_share_delta():
    ids = ("a:x",)
    before = {f"p{i}": PromptVerdicts(ids, (False,), (False,), looping=i < 30) for i in range(40)}
    after = {f"p{i}": PromptVerdicts(ids, (False,), (False,), looping=i < 10) for i in range(40)}
    e = paired_bootstrap(before, after, resamples=2000)["looping"]
    assert (e["before"], e["after"], e["delta"]) == (0.75, 0.25, -0.5)
    assert e["excludes_zero"] and e["high"] < 0


def test_score_report_and_compare_carry_the_share(tmp_path):
    """A real responses file scored by the CLI: the one answer made to loop shows up everywhere."""
    bench_rows = [json.loads(ln) for ln in (DATA / "eval_handwritten_benchmark.jsonl").read_text().splitlines() if ln.strip()]
    good = [r for r in bench_rows if r["key"] != 6]  # row 6 has deliberately bad kwargs
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps(r) + "\n" for r in good))
    prompts = {r["prompt"] for r in good}
    resp = [json.loads(ln) for ln in (DATA / "eval_handwritten_responses.jsonl").read_text().splitlines() if ln.strip()]
    resp = [r for r in resp if r["prompt"] in prompts]
    before_file, after_file = tmp_path / "before.jsonl", tmp_path / "after.jsonl"
    before_file.write_text("".join(json.dumps(r) + "\n" for r in resp))
    looped = [dict(r, response=r["response"] + " And so on." * 80) if i == 0 else r for i, r in enumerate(resp)]
    after_file.write_text("".join(json.dumps(r) + "\n" for r in looped))

    for name, f, extra in (("before", before_file, []), ("after", after_file, ["--baseline", str(tmp_path / "before")])):
        res = runner.invoke(app, ["score", "ifeval", str(f), "--benchmark", str(bench), "--out", str(tmp_path / name), *extra])
        assert res.exit_code == 0, res.output
    scores = json.loads((tmp_path / "after" / "scores.json").read_text())
    assert scores["looping"]["looping"] == 1 and scores["looping"]["answers"] == len(resp)
    assert json.loads((tmp_path / "before" / "scores.json").read_text())["looping"]["looping"] == 0
    report = (tmp_path / "after" / "report.md").read_text()
    assert f"Answers ending in a repetition loop: 1 of {len(resp)} (" in report
    assert scores["comparison"]["looping"]["delta"] == round(1 / len(resp), 6)
    assert "- Answers ending in a repetition loop (a diagnostic, not a score): 0.0 → " in report

    res = runner.invoke(app, ["eval", "compare", str(tmp_path / "before"), str(tmp_path / "after")])
    assert res.exit_code == 0 and "Answers ending in a repetition loop" in res.output
