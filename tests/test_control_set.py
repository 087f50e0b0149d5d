"""The constraint-free control set (``synth.control``) in the pipeline.

- ``synth`` sets a seeded sample of the seeds aside, disjoint from the training curriculum and from
  the held-out split, and writes it to ``control_seeds.jsonl`` (rows of the seeds file it read, so
  they passed the seeds stage's decontamination);
- ``selfif run`` declares ``control-before`` / ``control-after`` only when the set is declared;
- the real stages answer the set with the packaged policy (a few tokens), pair after against
  before, resume by hash, and the run report renders the section from those outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfif.cli import app
from selfif.config import ConfigError, SynthConfig, load_config
from selfif.data.curriculum import read_curriculum
from selfif.data.seeds import Seed
from selfif.data.synth import build_curriculum, control_path, control_seed_ids, heldout_seed_ids, synthesize
from selfif.io import read_jsonl

HELD = ["change_case:english_lowercase", "startend:quotation"]


def _seeds(n: int) -> list[Seed]:
    return [Seed(id=f"s-{i:03d}", text=f"Tell me something interesting about topic number {i}.", source="test") for i in range(n)]


def _write_seeds(path: Path, n: int) -> list[Seed]:
    seeds = _seeds(n)
    path.write_text("".join(s.model_dump_json() + "\n" for s in seeds))
    return seeds


def test_control_seeds_never_reach_the_curriculum_nor_the_heldout_split(tmp_path):
    seeds = _write_seeds(tmp_path / "seeds.jsonl", 40)
    cfg = SynthConfig(levels=2, hard_ratio=0.5, heldout={"types": HELD, "seeds": 6}, control={"seeds": 8})
    stats = synthesize(tmp_path / "seeds.jsonl", tmp_path / "curriculum.jsonl", cfg)
    assert control_path(tmp_path / "curriculum.jsonl") == tmp_path / "control_seeds.jsonl"
    control = read_jsonl(tmp_path / "control_seeds.jsonl", Seed)
    assert len(control) == 8 and stats["control"] == {"n_seeds": 8}
    assert {s.id for s in control} <= {s.id for s in seeds} and all(s in seeds for s in control)  # seeds-file rows as they are
    curriculum = read_curriculum(tmp_path / "curriculum.jsonl")  # what label, the RM, warm-start and GRPO read
    trained = {r.seed_id for r in curriculum}
    held = {h["seed_id"] for h in read_jsonl(tmp_path / "heldout.jsonl")}
    ctrl = {s.id for s in control}
    assert not ctrl & trained and not ctrl & held and not held & trained
    assert ctrl | held | trained == {s.id for s in seeds}  # nothing else is dropped
    texts = {s.text for s in control}
    assert not any(r.seed_text in texts or any(t in r.prompt for t in texts) for r in curriculum)
    # Turning the control set on leaves the held-out split as it was; the sample is reproducible.
    no_control = cfg.model_copy(update={"control": cfg.control.model_copy(update={"seeds": 0})})
    assert heldout_seed_ids(seeds, no_control) == heldout_seed_ids(seeds, cfg) == held
    assert control_seed_ids(seeds, cfg) == ctrl and control_seed_ids(seeds, no_control) == set()
    assert {r.seed_id for r in build_curriculum(seeds, no_control)} == trained | ctrl


def test_no_control_file_without_the_set_and_too_many_control_seeds_is_refused(tmp_path):
    seeds = _write_seeds(tmp_path / "seeds.jsonl", 10)
    synthesize(tmp_path / "seeds.jsonl", tmp_path / "curriculum.jsonl", SynthConfig(levels=1))
    assert not (tmp_path / "control_seeds.jsonl").exists()
    with pytest.raises(ConfigError, match="synth.control.seeds: 6 control seeds leave none of the 6"):
        build_curriculum(seeds, SynthConfig(heldout={"types": HELD, "seeds": 4}, control={"seeds": 6}))


def test_synth_cli_writes_the_control_set_and_a_negative_count_is_one_error_line(tmp_path):
    _write_seeds(tmp_path / "seeds.jsonl", 20)
    base = ["synth", "--seeds", str(tmp_path / "seeds.jsonl"), "--out", str(tmp_path / "curriculum.jsonl")]
    res = CliRunner().invoke(app, [*base, "--set", "synth.control.seeds=5", "--set", "synth.levels=1"])
    assert res.exit_code == 0, res.output
    assert "control set (no constraints, never trained): 5 seeds in control_seeds.jsonl" in res.output
    assert len(read_jsonl(tmp_path / "control_seeds.jsonl")) == 5
    bad = CliRunner().invoke(app, [*base, "--set", "synth.control.seeds=-1"])
    assert bad.exit_code == 2 and bad.output.strip().splitlines()[-1].startswith("error:") and "control" in bad.output


def test_run_evaluates_the_control_set_before_and_after_training_only_when_declared():
    from selfif.stages import pipeline_stages

    names = [s.name for s in pipeline_stages(load_config(None))]
    assert not any(n.startswith("control-") for n in names)
    stages = pipeline_stages(load_config(None, ["synth.control.seeds=3", f"synth.heldout.types={json.dumps(HELD)}"]))
    names = [s.name for s in stages]
    assert names.index("eval-before") < names.index("control-before") < names.index("train") \
        < names.index("control-after") < names.index("report")
    assert {"heldout-before", "heldout-after"} <= set(names)
    by = {s.name: s for s in stages}
    assert "synth" in by["control-before"].upstream and {"train", "control-before"} <= set(by["control-after"].upstream)
    assert by["control-before"].clean == ("control-before",) and by["control-after"].outputs == ("control-after/scores.json",)
    cpu = [s.name for s in pipeline_stages(load_config(Path(__file__).resolve().parents[1] / "configs" / "cpu-2h.yaml"))]
    assert "control-before" in cpu and "control-after" in cpu


def test_the_control_stages_answer_the_set_pair_resume_and_report(tmp_path, policy_path, one_thread):
    """The real synth, control-before and control-after stages (the packaged policy stands for
    the trained one in ``policy/final``; 8 tokens an answer: this checks the wiring, not the
    policy), then the run report built from their outputs. The seeds are written here: the seeds
    stage's filters take tens of seconds."""
    from selfif.layout import CONTROL_AFTER, CONTROL_BEFORE, CONTROL_SEEDS, FINAL_DIR, POLICY_DIR, RESPONSES, SCORES, SEEDS
    from selfif.pipeline import run_pipeline
    from selfif.report import write_report
    from selfif.stages import Stage, pipeline_stages

    run = tmp_path / "run"
    (run / POLICY_DIR).mkdir(parents=True)
    (run / POLICY_DIR / FINAL_DIR).symlink_to(Path(policy_path), target_is_directory=True)
    _write_seeds(run / SEEDS, 12)
    cfg = load_config(None, [f"run_dir={run}", f"model={policy_path}", "synth.control.seeds=3", "synth.levels=1",
                             "eval.generation.max_new_tokens=8", "eval.generation.temperature=0",
                             "eval.generation.backend=transformers"])
    seeds = Stage("seeds", ("seeds",), (), (SEEDS,), lambda cfg, run: {})
    train = Stage("train", ("model", "train", "reward"), ("synth",), (f"{POLICY_DIR}/{FINAL_DIR}/config.json",), lambda cfg, run: {})
    by = {s.name: s for s in pipeline_stages(cfg)}
    stages = [seeds, by["synth"], train, by["control-before"], by["control-after"]]
    manifest = run_pipeline(cfg, stages)
    control = read_jsonl(run / CONTROL_SEEDS, Seed)
    before, after = (json.loads((run / d / SCORES).read_text()) for d in (CONTROL_BEFORE, CONTROL_AFTER))
    assert before["n_prompts"] == after["n_prompts"] == 3 and before["meta"]["model"] == policy_path
    assert after["meta"]["model"] == str(run / POLICY_DIR / FINAL_DIR)
    assert {r["prompt"] for r in read_jsonl(run / CONTROL_BEFORE / RESPONSES)} == {s.text for s in control}
    assert "comparison" not in before and after["comparison"]["before"] == str(run / CONTROL_BEFORE)
    q = after["comparison"]["quality"]
    assert q["words_median"]["delta"] == 0 and q["looping"]["delta"] == 0  # same weights, greedy: the same answers
    assert manifest.stages["control-after"]["summary"]["n_prompts"] == 3

    stamp = (run / CONTROL_AFTER / SCORES).stat().st_mtime_ns
    run_pipeline(cfg, stages)  # same config: both control stages are up to date and skipped
    assert (run / CONTROL_AFTER / SCORES).stat().st_mtime_ns == stamp

    text = write_report(cfg, run).read_text()
    section = text.split("## Constraint-free control set")[1].split("\n## ")[0]
    assert "3 prompts. Before: median" in section and "**Loops**" in section and "**Answer length**" in section
    assert "Intervals: 95 %, paired bootstrap over prompts" in section
    assert "Constraint-free control set" not in write_report(load_config(None, [f"run_dir={run}"]), run).read_text()
