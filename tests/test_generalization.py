"""No benchmark in the loop: warm-start types chosen from the label audit, and a leave-types-out split.

- ``train.warmstart.types: auto`` reads an audit written by the audit code itself, from a small
  curriculum whose answers have known verdicts, and picks exactly the repairable types the answers
  fail when asked;
- ``synth.heldout`` keeps its types and seeds out of the curriculum and writes ``heldout.jsonl``;
- ``selfif score ifeval --benchmark heldout.jsonl`` scores known answers to it with the registry's
  verifiers, paired against a baseline; ``selfif run`` declares the held-out evaluations only when
  the split is declared.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfif.cli import app
from selfif.config import ConfigError, SynthConfig, WarmstartConfig, load_config
from selfif.constraints import registry
from selfif.constraints.base import ConstraintInstance
from selfif.data.seeds import Seed
from selfif.data.synth import build_curriculum, compose, heldout_path, synthesize
from selfif.io import InputError, read_jsonl
from selfif.labeling.audit import audit, write_audit
from selfif.labeling.label import ResponseRow

REPO = Path(__file__).resolve().parents[1]
NC = ConstraintInstance(id="punctuation:no_comma", kind="hard", kwargs={}, text="Do not use any commas.")
Q = ConstraintInstance(id="startend:quotation", kind="hard", kwargs={}, text="Wrap your whole reply in double quotes.")
LC = ConstraintInstance(id="change_case:english_lowercase", kind="hard", kwargs={}, text="Answer in lowercase only.")
LANG = ConstraintInstance(id="language:response_language", kind="hard", kwargs={"language": "fr"}, text="Answer in French.")
CHAIN = [NC, Q, LC, LANG]
# Answers per level: a comma before c1 (no_comma) is asked, then never quoted, lowercase once asked,
# never French. Asked pass rates: no_comma 1, quotation 0, lowercase 1, language 0 (no repair exists).
ANSWERS = ["Hello, World.", "Hello World.", "Hello World", "hello world", "hello world"]


def _audit(tmp_path: Path, n_seeds: int = 4) -> Path:
    rows, responses = [], []
    from selfif.data.curriculum import CurriculumRow

    for i in range(n_seeds):
        text = f"Seed {i} says hi."
        for k in range(len(CHAIN) + 1):
            row = CurriculumRow(seed_id=f"s{i}", level=k, prompt=compose(text, CHAIN[:k]), seed_text=text, constraints=CHAIN[:k])
            rows.append(row)
            responses.append(ResponseRow(seed_id=row.seed_id, level=k, prompt=row.prompt, response=ANSWERS[k]))
    return write_audit(audit(rows, responses), tmp_path / "run" / "label")


def test_auto_types_pick_the_repairable_types_the_policy_fails_when_asked(tmp_path):
    from selfif.rl.warmstart import audit_beside, fingerprint, resolve_types, select_prompts

    path = _audit(tmp_path)
    assert audit_beside(tmp_path / "run" / "curriculum.jsonl") == path  # where the trainer looks
    report = json.loads(path.read_text())
    assert {t: s["asked_pass_rate"] for t, s in report["per_type"].items()} == {
        "punctuation:no_comma": 1.0, "startend:quotation": 0.0, "change_case:english_lowercase": 1.0,
        "language:response_language": 0.0}
    ws, record = resolve_types(WarmstartConfig(types="auto", auto_min_answers=4), path)
    assert ws.types == ["startend:quotation"]  # language fails too, but nothing can repair it
    assert record["unrepairable"] == ["language:response_language"] and record["too_few"] == []
    assert record["mode"] == "auto" and record["threshold"] == 0.06 and record["chosen"] == ["startend:quotation"]
    assert record["rates"]["startend:quotation"] == {"asked_pass_rate": 0.0, "n_asked": report["per_type"]["startend:quotation"]["n_asked"]}
    assert record["rates"]["punctuation:no_comma"]["asked_pass_rate"] == 1.0
    # the same choice made by hand is the same warm-start (a finished one is not redone)
    rows = [{"row": 0, "prompt": [{"role": "user", "content": "q"}], "constraints": [Q.model_dump(), NC.model_dump()]},
            {"row": 1, "prompt": [{"role": "user", "content": "r"}], "constraints": [NC.model_dump()]}]
    assert fingerprint(ws, "m", rows) == fingerprint(WarmstartConfig(types=["startend:quotation"]), "m", rows)
    assert [r["row"] for r in select_prompts(ws, rows)] == [0]
    from selfif.report import _warmstart_section  # the run report names the choice and its rate

    assert "Types (auto: asked pass rate on the policy's own curriculum answers below 0.06, label audit): " \
           "`startend:quotation` 0.000." in _warmstart_section({"types": record})
    # a threshold of 1 still leaves out the types the answers always follow
    assert resolve_types(WarmstartConfig(types="auto", auto_threshold=1.0, auto_min_answers=4), path)[0].types == ["startend:quotation"]
    with pytest.raises(ValueError):
        WarmstartConfig(auto_threshold=1.5)
    # too few asked answers per type: nothing is judged, and that is an error that says what to do
    with pytest.raises(InputError, match="auto_threshold=0.06 over >= 1000 answers"):
        resolve_types(WarmstartConfig(types="auto", auto_min_answers=1000), path)


def test_auto_types_without_an_audit_fail_with_what_to_run(tmp_path):
    from selfif.rl.warmstart import resolve_types, run_warmstart

    missing = tmp_path / "label" / "audit.json"
    with pytest.raises(InputError, match=r"run `selfif label --audit` on this curriculum first"):
        resolve_types(WarmstartConfig(types="auto"), missing)
    with pytest.raises(InputError, match="audit"):  # before any model is loaded
        run_warmstart(WarmstartConfig(types="auto", enabled=True), [], "no-such-model", tmp_path / "ws", audit_path=missing)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"overall": {}}))
    with pytest.raises(InputError, match='expected a "per_type" object'):
        resolve_types(WarmstartConfig(types="auto"), bad)
    ws, record = resolve_types(WarmstartConfig(types=["startend:quotation"]), missing)  # a list needs no audit
    assert ws.types == ["startend:quotation"] and record == {"mode": "list", "chosen": ["startend:quotation"]}


def test_warmstart_types_accept_auto_or_a_list_only():
    assert WarmstartConfig(types="auto").types == "auto"
    with pytest.raises(ValueError):
        WarmstartConfig(types="automatic")
    cfg = load_config(None, ["train.warmstart.types=auto", "train.warmstart.auto_threshold=0.1"])
    assert cfg.train.warmstart.types == "auto" and cfg.train.warmstart.auto_threshold == 0.1


def test_cpu_2h_takes_no_type_list_from_a_benchmark():
    cfg = load_config(REPO / "configs" / "cpu-2h.yaml")
    assert cfg.synth.hard_types is None  # every hard type of the registry
    assert cfg.train.warmstart.enabled and cfg.train.warmstart.types == "auto"
    assert cfg.eval.instruction_types == []


def _seeds(n: int) -> list[Seed]:
    return [Seed(id=f"s-{i:03d}", text=f"Tell me something interesting about topic {i}.", source="test") for i in range(n)]


HELD = ["change_case:english_lowercase", "startend:quotation"]


def test_heldout_types_and_seeds_never_reach_the_curriculum(tmp_path):
    seeds = _seeds(60)
    (tmp_path / "seeds.jsonl").write_text("".join(s.model_dump_json() + "\n" for s in seeds))
    cfg = SynthConfig(levels=3, hard_ratio=0.9, heldout={"types": HELD, "seeds": 10, "constraints": 2})
    stats = synthesize(tmp_path / "seeds.jsonl", tmp_path / "curriculum.jsonl", cfg)
    rows = [json.loads(x) for x in (tmp_path / "curriculum.jsonl").read_text().splitlines()]
    held = [json.loads(x) for x in heldout_path(tmp_path / "curriculum.jsonl").read_text().splitlines()]
    assert heldout_path(tmp_path / "curriculum.jsonl") == tmp_path / "heldout.jsonl"
    train_types = {c["id"] for r in rows for c in r["constraints"]}
    assert not train_types & set(HELD) and len(train_types & {t.id for t in registry.all_types("hard")}) > 10
    assert len(held) == 10 and stats["heldout"]["n_prompts"] == 10
    assert not {r["seed_id"] for r in rows} & {h["seed_id"] for h in held}
    assert {r["seed_id"] for r in rows} | {h["seed_id"] for h in held} == {s.id for s in seeds}
    for h in held:
        assert 1 <= len(h["instruction_id_list"]) <= 2 and set(h["instruction_id_list"]) <= set(HELD)
        assert h["key"] == h["seed_id"] and len(h["kwargs"]) == len(h["instruction_id_list"])
    assert any(len(h["instruction_id_list"]) == 2 for h in held)
    from selfif.eval.benchmark import load_benchmark  # the evaluation's own reader takes it as a benchmark

    assert [r.prompt for r in load_benchmark(tmp_path / "heldout.jsonl")] == [h["prompt"] for h in held]
    # deterministic, and a training chain of a seed depends on the pools only
    assert build_curriculum(seeds, cfg) == build_curriculum(seeds, cfg)
    with pytest.raises(ConfigError, match="synth.heldout.types: unknown hard constraint ids"):
        build_curriculum(seeds, SynthConfig(heldout={"types": ["soft:tone_and_emotion"]}))
    with pytest.raises(ConfigError, match="leave none of the 60 seeds"):
        build_curriculum(seeds, SynthConfig(heldout={"types": HELD, "seeds": 60}))


def test_synth_cli_writes_the_split_and_rejects_a_bad_type_in_one_line(tmp_path):
    (tmp_path / "seeds.jsonl").write_text("".join(s.model_dump_json() + "\n" for s in _seeds(20)))
    base = ["synth", "--seeds", str(tmp_path / "seeds.jsonl"), "--out", str(tmp_path / "curriculum.jsonl")]
    res = CliRunner().invoke(app, [*base, "--set", f"synth.heldout.types={json.dumps(HELD)}", "--set", "synth.heldout.seeds=5"])
    assert res.exit_code == 0, res.output
    assert "held out of training: 2 hard types, 5 prompts in heldout.jsonl" in res.output
    assert len(read_jsonl(tmp_path / "heldout.jsonl")) == 5
    bad = CliRunner().invoke(app, [*base, "--set", "synth.heldout.types=[no:such]"])
    assert bad.exit_code == 2 and bad.output.strip().splitlines()[-1].startswith("error:") and "no:such" in bad.output


def test_heldout_answers_are_scored_by_the_registry_and_paired_with_a_baseline(tmp_path):
    (tmp_path / "seeds.jsonl").write_text("".join(s.model_dump_json() + "\n" for s in _seeds(40)))
    cfg = SynthConfig(heldout={"types": HELD, "seeds": 12, "constraints": 2})
    synthesize(tmp_path / "seeds.jsonl", tmp_path / "curriculum.jsonl", cfg)
    held = read_jsonl(tmp_path / "heldout.jsonl")
    sentence = "this is a short answer, written in plain english words for the people who read it."
    fails, follows = sentence.capitalize(), f'"{sentence}"'  # neither quoted nor lowercase / both
    for text in (fails, follows):
        for iid in HELD:
            assert registry.verify(iid, text) is (text == follows)
    passing = {h["prompt"] for h in held[::3]}
    for name, answer in (("before", lambda p: fails), ("after", lambda p: follows if p in passing else fails)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps({"prompt": h["prompt"], "response": answer(h["prompt"])}) + "\n" for h in held))
    bench = str(tmp_path / "heldout.jsonl")
    b, a = tmp_path / "heldout-before", tmp_path / "heldout-after"  # a run directory's names (selfif.layout)
    res = CliRunner().invoke(app, ["score", "ifeval", str(tmp_path / "before.jsonl"), "-b", bench, "--out", str(b)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["score", "ifeval", str(tmp_path / "after.jsonl"), "-b", bench, "--out", str(a),
                                   "--baseline", str(b)])
    assert res.exit_code == 0, res.output
    scores = json.loads((a / "scores.json").read_text())
    assert scores["n_prompts"] == 12 and scores["prompt_level_strict"] == pytest.approx(len(passing) / 12)
    assert set(scores["per_instruction"]) <= set(HELD)
    delta = scores["comparison"]["overall"]["prompt_level_strict"]
    assert delta["before"] == 0.0 and delta["delta"] == pytest.approx(len(passing) / 12) and delta["low"] > 0
    from selfif.report import write_report  # the run report shows the split with its intervals

    run_cfg = load_config(None, [f"synth.heldout.types={json.dumps(HELD)}"])
    text = write_report(run_cfg, tmp_path).read_text()
    section = text.split("## Held-out constraint types (never trained)")[1].split("\n## ")[0]
    assert "12 prompts." in section and f"{100 * len(passing) / 12:.1f}" in section
    assert "Held-out constraint types" not in write_report(load_config(None), tmp_path).read_text()


def test_run_evaluates_the_split_before_and_after_training_only_when_declared():
    from selfif.stages import pipeline_stages

    names = [s.name for s in pipeline_stages(load_config(None))]
    assert "heldout-before" not in names and names == [s.name for s in pipeline_stages()]
    stages = pipeline_stages(load_config(None, [f"synth.heldout.types={json.dumps(HELD)}"]))
    names = [s.name for s in stages]
    assert names.index("eval-before") < names.index("heldout-before") < names.index("train") < names.index("heldout-after")
    by = {s.name: s for s in stages}
    assert "synth" in by["heldout-before"].upstream and "train" in by["heldout-after"].upstream


def test_the_heldout_stage_answers_the_split_with_the_policy(tmp_path, policy_path, one_thread):
    """The real synth and heldout-before stages: the packaged policy answers the held-out prompts;
    scores and answers land in heldout-before/ (a few tokens per answer: this checks the wiring,
    not the policy). The seeds are written here: the seeds stage's filters take tens of seconds."""
    from selfif.layout import HELDOUT_BEFORE, RESPONSES, SCORES, SEEDS
    from selfif.pipeline import run_pipeline
    from selfif.stages import Stage, pipeline_stages

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / SEEDS).write_text("".join(s.model_dump_json() + "\n" for s in _seeds(20)))
    cfg = load_config(None, [f"run_dir={tmp_path / 'run'}", f"model={policy_path}",
                             f"synth.heldout.types={json.dumps(HELD)}", "synth.heldout.seeds=3", "synth.levels=2",
                             "eval.generation.max_new_tokens=8", "eval.generation.backend=transformers"])
    seeds = Stage("seeds", ("seeds",), (), (SEEDS,), lambda cfg, run: {})
    stages = [seeds] + [s for s in pipeline_stages(cfg) if s.name in ("synth", "heldout-before")]
    manifest = run_pipeline(cfg, stages)
    out = tmp_path / "run" / HELDOUT_BEFORE
    scores = json.loads((out / SCORES).read_text())
    held = read_jsonl(tmp_path / "run" / "heldout.jsonl")
    assert scores["n_prompts"] == 3 and scores["meta"]["benchmark"] == str(tmp_path / "run" / "heldout.jsonl")
    assert {r["prompt"] for r in read_jsonl(out / RESPONSES)} == {h["prompt"] for h in held}
    summary = manifest.stages["heldout-before"]["summary"]
    assert summary["n_prompts"] == 3 and summary["types"] == sorted(HELD)
