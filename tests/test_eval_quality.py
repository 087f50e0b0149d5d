"""The answer-quality report on the real stored answers of ``results/ifeval``: the base policy
against the cpu-2h seed-1 policy. Each metric fires on the examples the answers hold, the
regressions measured on them are pinned, and the report reaches ``scores.json``, ``report.md``
and ``selfif eval compare`` with paired intervals."""

from __future__ import annotations

import json
import statistics

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import REPO
from selfif.cli import app
from selfif.eval import quality as Q
from selfif.eval.benchmark import load_benchmark
from selfif.eval.bootstrap import compare_dirs, resampled
from selfif.io import read_jsonl

RESULTS = REPO / "results" / "ifeval"
BASE, TRAINED = "smollm2-135m-base", "cpu-2h-s600b"
SHAKESPEARE_LETTER, BIOGRAPHY = 295, 1348  # benchmark keys of the two examples quoted in the measurements
VOTE_LETTER, WEATHER_BOT = 1051, 1174  # answers off their task (relevance)
SUBSET = 48  # prompts scored through the CLI (relevance on 2 x 48 answers: seconds)


def _answers(name: str) -> dict[str, str]:
    return {x["prompt"]: x["response"] for x in read_jsonl(RESULTS / name / "responses.jsonl")}


@pytest.fixture(scope="module")
def rows(ifeval_path):
    return load_benchmark(ifeval_path)


@pytest.fixture(scope="module")
def stored(rows):
    """name -> (answers aligned with rows, metrics without relevance) for both stored evaluations."""
    out = {}
    for name in (BASE, TRAINED):
        by_prompt = _answers(name)
        answers = [by_prompt[r.prompt] for r in rows]
        out[name] = answers, Q.assess_rows(rows, answers, with_relevance=False)
    return out


def test_measured_regressions_are_pinned(stored):
    """The regressions measured on the stored answers: shorter answers, as many loops, quotes and
    case changes nobody asked for, more copied instruction wording."""
    base, trained = (Q.summary(stored[n][1]) for n in (BASE, TRAINED))
    assert (base["answers"], trained["answers"]) == (541, 541)
    assert (base["words"]["median"], trained["words"]["median"]) == (158, 65)
    assert (base["looping"]["looping"], trained["looping"]["looping"]) == (303, 298)
    quotes = base["bleed"]["quotation"], trained["bleed"]["quotation"]
    assert [(q["shown"], q["unasked"]) for q in quotes] == [(26, 501), (110, 501)]
    assert (base["bleed"]["lowercase"]["shown"], trained["bleed"]["lowercase"]["shown"]) == (4, 12)
    assert (base["bleed"]["capitals"]["shown"], trained["bleed"]["capitals"]["shown"]) == (0, 14)
    assert base["bleed"]["lowercase"]["unasked"] == 502
    assert (base["copying"]["copying"], trained["copying"]["copying"]) == (31, 68)
    assert base["copying"]["prompts"] == 541


def test_length_ratio_is_paired_per_prompt(stored):
    (b, _), (a, _) = stored[BASE], stored[TRAINED]
    ratios = [Q.length_ratio(x, y) for x, y in zip(a, b)]
    assert statistics.median(ratios) == pytest.approx(0.714286, abs=1e-6)
    assert Q.length_ratio("one two", "") == 3.0


def test_copying_fires_on_the_quoted_examples(rows, stored):
    """The Shakespeare letter answers with the title placeholder and a paragraph instruction from
    the training templates; the biography calls its subject a "highlighted section"."""
    idx = {r.key: i for i, r in enumerate(rows)}
    letter = stored[TRAINED][1][idx[SHAKESPEARE_LETTER]].copied
    assert "<<title>>" in letter and "with the markdown divider" in letter
    assert "*highlighted section*" in stored[TRAINED][1][idx[BIOGRAPHY]].copied
    assert stored[BASE][1][idx[BIOGRAPHY]].copied == ()
    row = rows[idx[BIOGRAPHY]]
    # the same words are not copying when the prompt's task itself says them
    assert Q.copied_phrases("A *highlighted section* here.", "Explain what a *highlighted section* is in markdown.", ()) == ()
    assert Q.copied_phrases("", row.prompt, row.instruction_id_list) == ()


def test_split_prompt_separates_task_and_constraints(rows):
    row = next(r for r in rows if r.key == BIOGRAPHY)
    task, constraint = Q.split_prompt(row.prompt, tuple(row.instruction_id_list))
    assert task.startswith('Write a brief biography of a person named "Brilliant Le Hou".')
    assert "The biography should start with the name of the person." in task
    assert any("*highlighted section*" in s for s in constraint) and "highlighted" not in task
    letter = next(r for r in rows if r.key == SHAKESPEARE_LETTER)
    _, constraint = Q.split_prompt(letter.prompt, tuple(letter.instruction_id_list))
    assert any("<<title>>" in s for s in constraint)  # the "i.e. <<title>>." fragment stays with its sentence
    assert Q.split_prompt("Tell me a story. Make it short.", ()) == ("Tell me a story. Make it short.", ())


def test_format_detectors_on_real_answers(rows, stored):
    """Each detector fires on some real answer and only where that format is visible."""
    answers = stored[TRAINED][0] + stored[BASE][0]
    for f in Q.FORMATS:
        hits = [a for a in answers if f.name in Q.formats_shown(a)]
        if f.name != "json":  # neither policy wrote a JSON object unasked or asked
            assert hits, f.name
    assert Q.formats_shown('"Quoted all the way, cut by the cap') >= {"quotation"}
    assert Q.formats_shown('{"a": 1}') >= {"json"} and "json" not in Q.formats_shown('"just a string"')
    assert "lowercase" in Q.formats_shown("this whole answer is written in lower case letters only.")
    assert "title" in Q.formats_shown("<<A Title>>\n\nBody.") and "postscript" in Q.formats_shown("Body.\n\nP.P.S. more")
    assert Q.formats_shown("Plain answer. Nothing special.") == frozenset()
    assert Q.unasked(["startend:quotation", "punctuation:no_comma"]) == frozenset(Q.FORMAT_NAMES) - {"quotation"}


def test_relevance_tracks_the_task(rows, stored):
    """Real answers are closer to their own task than to another prompt's; an answer that left its
    task (a loop of something else, the instruction's own wording) is far below the base's."""
    sub = rows[:40]
    answers = stored[BASE][0][:40]
    tasks = [Q.split_prompt(r.prompt, tuple(r.instruction_id_list))[0] for r in sub]
    own = Q.relevance(answers, tasks)
    shifted = Q.relevance(answers, tasks[1:] + tasks[:1])
    assert np.mean(own) > np.mean(shifted) + 0.2
    assert sum(o > s for o, s in zip(own, shifted)) >= 36
    # the trained policy's vote letter is a loop of "I'm so sorry for your loss"; its weather-bot
    # template is a list of "*The letter o should appear at least 6 times." (copying fires too)
    for key in (VOTE_LETTER, WEATHER_BOT):
        i = next(i for i, r in enumerate(rows) if r.key == key)
        task = [Q.split_prompt(rows[i].prompt, tuple(rows[i].instruction_id_list))[0]]
        assert Q.relevance([stored[TRAINED][0][i]], task)[0] < Q.relevance([stored[BASE][0][i]], task)[0] - 0.3, key
    assert stored[TRAINED][1][next(i for i, r in enumerate(rows) if r.key == WEATHER_BOT)].copied
    assert Q.relevance([""], ["Write a poem."]) == [0.0]


def test_resampled_medians_are_the_medians_of_the_draws():
    """The median replicates equal numpy's medians of the explicitly drawn samples (same draws)."""
    v = np.random.default_rng(5).integers(0, 300, size=31).astype(float)
    for n in (31, 30):
        sums, meds = resampled({"v": v[:n]}, {"v": v[:n]}, resamples=400, seed=3)
        idx = np.random.default_rng(3).integers(0, n, size=(400, n))
        assert np.array_equal(meds["v"], np.median(v[:n][idx], axis=1))
        assert np.allclose(sums["v"], v[:n][idx].sum(axis=1))


@pytest.fixture(scope="module")
def scored_subset(tmp_path_factory, rows):
    """The first prompts of both stored evaluations scored through ``selfif score ifeval``, the
    trained one with the base as baseline."""
    d = tmp_path_factory.mktemp("quality")
    bench = d / "bench.jsonl"
    sub = rows[:SUBSET]
    bench.write_text("".join(json.dumps({"key": r.key, "prompt": r.prompt, "instruction_id_list": r.instruction_id_list,
                                         "kwargs": r.kwargs}) + "\n" for r in sub))
    outs = {}
    for name, extra in ((BASE, []), (TRAINED, ["--baseline", str(d / BASE)])):
        answers = _answers(name)
        resp = d / f"{name}.jsonl"
        resp.write_text("".join(json.dumps({"prompt": r.prompt, "response": answers[r.prompt]}) + "\n" for r in sub))
        res = CliRunner().invoke(app, ["score", "ifeval", str(resp), "--benchmark", str(bench), "--out", str(d / name), *extra])
        assert res.exit_code == 0, res.output
        outs[name] = d / name
    return outs


def test_quality_block_in_scores_and_report(scored_subset, stored):
    scores = json.loads((scored_subset[TRAINED] / "scores.json").read_text())
    q = scores["quality"]
    want = Q.summary(stored[TRAINED][1][:SUBSET])
    assert q["answers"] == SUBSET and q["words"] == want["words"] and q["bleed"] == want["bleed"]
    assert q["copying"]["copying"] == want["copying"]["copying"] and q["looping"] == want["looping"]
    assert -1 <= q["relevance"]["mean"] <= 1 and q["relevance"]["encoder"] == Q.ENCODER
    report = (scored_subset[TRAINED] / "report.md").read_text()
    assert "## What the answers look like" in report and f"Median answer {want['words']['median']:g} words" in report
    assert "| quotation |" in report


def test_comparison_carries_paired_quality(scored_subset):
    """``scores.json["comparison"]`` of a scored baseline and ``selfif eval compare`` agree, and
    the quotation bleed and length deltas are the subset's real ones with intervals around them."""
    recorded = json.loads((scored_subset[TRAINED] / "scores.json").read_text())["comparison"]["quality"]
    again = compare_dirs(scored_subset[BASE], scored_subset[TRAINED])["quality"]
    assert recorded == again
    quotes = again["bleed"]["quotation"]
    assert quotes["delta"] == pytest.approx(quotes["after"] - quotes["before"], abs=1e-6)
    assert quotes["low"] <= quotes["delta"] <= quotes["high"] and quotes["after"] > quotes["before"]
    w = again["words_median"]
    assert w["after"] < w["before"] and w["low"] <= w["delta"] <= w["high"]
    assert again["length_ratio"]["low"] <= again["length_ratio"]["median"] <= again["length_ratio"]["high"]
    assert again["relevance"]["low"] <= again["relevance"]["delta"] <= again["relevance"]["high"]
    res = CliRunner().invoke(app, ["eval", "compare", str(scored_subset[BASE]), str(scored_subset[TRAINED]), "--resamples", "500"])
    assert res.exit_code == 0, res.output
    assert "**Answer length** (median)" in res.output and "**Instruction copying**" in res.output
    assert "| `quotation` |" in res.output


CONTROL_SEEDS = [
    {"id": "c1", "text": "Explain why the sky looks blue during the day but red at sunset.", "source": "test"},
    {"id": "c2", "text": "Give me three tips for keeping houseplants alive.", "source": "test"},
]


def test_control_set_through_the_cli(tmp_path):
    """Constraint-free prompts answered by the real packaged policy, then paired against a
    baseline directory of other answers to the same prompts; a baseline of other prompts is refused."""
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps(s) + "\n" for s in CONTROL_SEEDS))
    out = tmp_path / "control"
    args = ["eval", "control", str(seeds), "--model", "smollm2-135m", "--max-new-tokens", "12", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    scores = json.loads((out / "scores.json").read_text())
    q = scores["quality"]
    assert q["answers"] == 2 and q["copying"]["prompts"] == 0
    assert all(v["unasked"] == 2 for v in q["bleed"].values())  # nothing is asked for
    assert -1 <= q["relevance"]["mean"] <= 1
    answers = [r["response"] for r in read_jsonl(out / "responses.jsonl")]
    assert q["words"]["median"] == statistics.median(len(a.split()) for a in answers)

    base = tmp_path / "base"
    base.mkdir()
    looped = "The sky is blue. " * 40
    (base / "responses.jsonl").write_text(
        json.dumps({"prompt": CONTROL_SEEDS[0]["text"], "response": looped}) + "\n"
        + json.dumps({"prompt": CONTROL_SEEDS[1]["text"], "response": '"Water them, give them light, and repot them."'}) + "\n")
    res = CliRunner().invoke(app, [*args, "--baseline", str(base)])  # resumes: nothing generated again
    assert res.exit_code == 0, res.output
    cmp = json.loads((out / "scores.json").read_text())["comparison"]["quality"]
    assert cmp["looping"]["before"] == 0.5 and cmp["bleed"]["quotation"]["before"] == 0.5
    assert cmp["words_median"]["before"] == statistics.median([len(looped.split()), 8])
    assert "## Against the baseline" in (out / "report.md").read_text()

    (base / "responses.jsonl").write_text(json.dumps({"prompt": "Something else entirely.", "response": "x"}) + "\n")
    res = CliRunner().invoke(app, [*args, "--baseline", str(base)])
    assert res.exit_code == 2 and "not in the baseline" in res.output


def test_copying_verdict_names_the_direction_not_a_gain():
    """A fall in instruction copying is an improvement: the comparison line must not call it a
    "loss" as it would a fall in accuracy (the demo's 5.1 -> 0.0 % once read "loss")."""
    from selfif.eval.report import noise_verdict

    c = {"confidence": 0.95}
    fell = {"delta": -0.051, "excludes_zero": True}
    assert noise_verdict(fell, c).startswith("loss")
    assert noise_verdict(fell, c, up="more copying", down="less copying").startswith("less copying")
    assert noise_verdict({"delta": 0.07, "excludes_zero": True}, c, up="more copying", down="less copying").startswith("more copying")
    assert "noise" in noise_verdict({"delta": 0.07, "excludes_zero": False}, c, up="more copying")
