"""`selfif run`: stage skipping/resume by config hash, and (slow) the whole pipeline on the real model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from selfif.config import load_config
from selfif.pipeline import StageFailed, run_pipeline
from selfif.stages import Stage


def _stages(calls: list[str], fail_in: str | None = None):
    def make(name: str, out: str):
        def run(cfg, run_dir: Path):
            calls.append(name)
            if name == fail_in:
                (run_dir / f"{name}.work").mkdir(exist_ok=True)
                raise KeyboardInterrupt  # an interrupted stage
            (run_dir / out).write_text(f"{name} lr={cfg.train.learning_rate}\n")
            return {"ok": True}

        return run

    return [
        Stage("a", ("seeds",), (), ("a.txt",), make("a", "a.txt")),
        Stage("b", ("train",), ("a",), ("b.txt",), make("b", "b.txt"), clean=("b.work",)),
        Stage("c", ("eval",), ("b",), ("c.txt",), make("c", "c.txt")),
    ]


def test_rerun_skips_done_stages_and_config_change_reruns_downstream(tmp_path):
    cfg = load_config(None, [f"run_dir={tmp_path}"])
    calls: list[str] = []
    run_pipeline(cfg, _stages(calls))
    assert calls == ["a", "b", "c"]
    calls.clear()
    run_pipeline(cfg, _stages(calls))
    assert calls == []  # everything up to date
    cfg2 = load_config(None, [f"run_dir={tmp_path}", "train.learning_rate=0.5"])
    run_pipeline(cfg2, _stages(calls))
    assert calls == ["b", "c"]  # b's section changed, c is downstream of b; a untouched
    assert (tmp_path / "b.txt").read_text() == "b lr=0.5\n"
    calls.clear()
    (tmp_path / "c.txt").unlink()  # a lost output makes its stage rerun
    run_pipeline(cfg2, _stages(calls))
    assert calls == ["c"]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert all(rec["status"] == "done" for rec in manifest["stages"].values())


def test_interrupted_stage_resumes_but_stale_work_is_removed(tmp_path):
    cfg = load_config(None, [f"run_dir={tmp_path}"])
    calls: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(cfg, _stages(calls, fail_in="b"))
    assert json.loads((tmp_path / "manifest.json").read_text())["stages"]["b"]["status"] == "running"
    calls.clear()
    run_pipeline(cfg, _stages(calls))  # same config: b's partial work is kept for it to resume
    assert calls == ["b", "c"] and (tmp_path / "b.work").exists()
    (tmp_path / "b.work" / "hours.txt").write_text("partial work\n")
    cfg2 = load_config(None, [f"run_dir={tmp_path}", "train.learning_rate=0.5"])
    run_pipeline(cfg2, _stages(calls))  # other config: b's old partial work must not be resumed ...
    assert not (tmp_path / "b.work").exists()
    # ... but it is moved aside, not deleted: a config changed by mistake must not cost the work
    assert (tmp_path / "b.work.stale" / "hours.txt").read_text() == "partial work\n"


def test_an_input_file_counts_by_its_bytes_not_its_spelling(tmp_path, monkeypatch):
    bench = tmp_path / "data" / "bench.jsonl"
    bench.parent.mkdir()
    bench.write_text('{"key": 1, "prompt": "p", "instruction_id_list": [], "kwargs": []}\n')
    run = tmp_path / "run"
    calls: list[str] = []
    run_pipeline(load_config(None, [f"run_dir={run}", f"eval.benchmark={bench}"]), _stages(calls))
    assert calls == ["a", "b", "c"]
    calls.clear()
    monkeypatch.chdir(tmp_path / "data")  # the same file spelled relative to another directory
    run_pipeline(load_config(None, [f"run_dir={run}", "eval.benchmark=../data/bench.jsonl"]), _stages(calls))
    assert calls == []
    bench.write_text(bench.read_text() * 2)  # an edited file is a changed input
    run_pipeline(load_config(None, [f"run_dir={run}", "eval.benchmark=../data/bench.jsonl"]), _stages(calls))
    assert calls == ["c"]


def test_a_field_at_its_default_is_not_hashed_so_new_fields_do_not_stale_old_runs():
    plain, explicit = load_config(None), load_config(None, ["train.learning_rate=1e-5", "train.warmstart.enabled=false"])
    assert plain.train.learning_rate == 1e-5  # the default, spelled out
    assert plain.section_hash("train") == explicit.section_hash("train")
    assert plain.section_hash("train") != load_config(None, ["train.learning_rate=2e-5"]).section_hash("train")


def test_a_manifest_recorded_under_the_older_hash_is_still_up_to_date(tmp_path):
    from selfif.pipeline import _stage_hash

    bench = tmp_path / "bench.jsonl"
    bench.write_text("{}\n")
    cfg = load_config(None, [f"run_dir={tmp_path}", f"eval.benchmark={bench}"])
    calls: list[str] = []
    stages = _stages(calls)
    run_pipeline(cfg, stages)
    manifest_path = tmp_path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    old: dict[str, str] = {}
    for stage in stages:  # rewrite the records as a manifest written before files counted by content
        old[stage.name] = _stage_hash(cfg, stage, old, files_by_content=False)
        manifest["stages"][stage.name]["hash"] = old[stage.name]
    assert manifest["stages"]["c"]["hash"] != json.loads(manifest_path.read_text())["stages"]["c"]["hash"]
    manifest_path.write_text(json.dumps(manifest))
    calls.clear()
    run_pipeline(cfg, _stages(calls))
    assert calls == [] and not list(tmp_path.glob("*.stale"))


def test_failed_stage_is_recorded_failed_with_its_message(tmp_path):
    from selfif.io import InputError

    def broken(cfg, run_dir):
        raise InputError(run_dir / "x.jsonl", 3, "expected a JSON object")

    stages = [Stage("a", ("seeds",), (), ("a.txt",), broken)]
    cfg = load_config(None, [f"run_dir={tmp_path}"])
    with pytest.raises(StageFailed) as info:
        run_pipeline(cfg, stages)
    assert isinstance(info.value.error, InputError)
    rec = json.loads((tmp_path / "manifest.json").read_text())["stages"]["a"]
    assert rec["status"] == "failed"
    assert rec["error"] == f"InputError: {tmp_path / 'x.jsonl'}:3: expected a JSON object"


def _bad_seeds_preset(tmp_path, ifeval_path) -> tuple[Path, Path]:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a fine first row for testing"}\n[1, 2]\n')
    preset = tmp_path / "p.yaml"
    preset.write_text(yaml.safe_dump({"run_dir": str(tmp_path / "run"), "seeds": {"source": str(bad)},
                                      "eval": {"benchmark": str(ifeval_path)}}))
    return bad, preset


@pytest.mark.parametrize("how", ["positional", "--config"])
def test_run_stage_input_error_is_one_line_exit_2_and_marked_failed(tmp_path, ifeval_path, how):
    from typer.testing import CliRunner

    from selfif.cli import app

    bad, preset = _bad_seeds_preset(tmp_path, ifeval_path)
    args = ["run", str(preset)] if how == "positional" else ["run", "--config", str(preset)]
    res = CliRunner().invoke(app, args)
    verb = CliRunner().invoke(app, ["seeds", "--source", str(bad), "--decontaminate", str(ifeval_path),
                                    "--out", str(tmp_path / "verb" / "seeds.jsonl")])
    assert res.exit_code == verb.exit_code == 2, res.output
    assert "Traceback" not in res.output and isinstance(res.exception, SystemExit)
    error_lines = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert error_lines == [f"error: {bad}:2: expected a JSON object, got list"] == \
        [ln for ln in verb.output.splitlines() if ln.startswith("error:")]
    rec = json.loads((tmp_path / "run" / "manifest.json").read_text())["stages"]["seeds"]
    assert rec["status"] == "failed" and f"{bad}:2" in rec["error"]


def test_run_rejects_a_file_that_is_not_a_manifest_without_touching_it(tmp_path):
    from typer.testing import CliRunner

    from selfif.cli import app

    (tmp_path / "manifest.json").write_text("[not a manifest")
    res = CliRunner().invoke(app, ["run", "--run-dir", str(tmp_path)])
    assert res.exit_code == 2 and "not a selfif manifest" in res.output
    assert (tmp_path / "manifest.json").read_text() == "[not a manifest"
    assert not (tmp_path / "config.json").exists()


def test_run_rejects_an_unknown_forced_stage_before_running_anything(tmp_path):
    from typer.testing import CliRunner

    from selfif.cli import app

    res = CliRunner().invoke(app, ["run", "--run-dir", str(tmp_path / "r"), "--force", "trian"])
    assert res.exit_code == 2 and "--force trian: no such stage" in res.output and "train-rm" in res.output
    assert not (tmp_path / "r").exists()


def test_run_until_stops_after_the_named_stage_and_a_rerun_goes_on_from_there(tmp_path, ifeval_path):
    from typer.testing import CliRunner

    from selfif.cli import app

    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps({"prompt": f"Write a short note number {i} about gardening in spring."}) + "\n"
                             for i in range(4)))
    preset = tmp_path / "p.yaml"
    preset.write_text(yaml.safe_dump({"run_dir": str(tmp_path / "run"), "seeds": {"source": str(seeds), "n": 4, "min_chars": 10},
                                      "synth": {"levels": 2}, "eval": {"benchmark": str(ifeval_path)}}))
    res = CliRunner().invoke(app, ["run", str(preset), "--until", "synth"])
    assert res.exit_code == 0, res.output
    assert "stopped after stage synth (--until)" in res.output and "report:" not in res.output
    stages = json.loads((tmp_path / "run" / "manifest.json").read_text())["stages"]
    assert list(stages) == ["seeds", "synth"] and all(r["status"] == "done" for r in stages.values())
    assert (tmp_path / "run" / "curriculum.jsonl").stat().st_size > 0
    bad = CliRunner().invoke(app, ["run", str(preset), "--until", "lable"])
    assert bad.exit_code == 2 and "--until lable: no such stage" in bad.output and "train-rm" in bad.output


def test_every_shipped_preset_validates():
    for path in sorted(REPO.glob("configs/*.yaml")):
        cfg = load_config(path)
        assert cfg.run_dir and cfg.model, path


@pytest.mark.slow
def test_whole_pipeline_tiny(tmp_path, ifeval_path):
    """seeds -> synth -> label -> train-rm -> eval -> train -> eval -> report on the real model (minutes)."""
    from typer.testing import CliRunner

    from selfif.cli import app

    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in [
        "Describe how a bicycle gear system works for a curious child.",
        "Suggest three names for a small bakery that sells sourdough bread.",
        "Explain why the sky looks blue during the day but red at sunset.",
    ]))
    cfg = {
        "run_dir": str(tmp_path / "run"),
        "seeds": {"source": str(seeds), "n": 3, "min_chars": 10},
        "synth": {"levels": 2, "hard_ratio": 0.5},
        "label": {"generation": {"max_new_tokens": 8, "batch_size": 8}},
        "rm": {"epochs": 1, "batch_size": 4, "max_length": 64},
        "train": {"max_steps": 1, "num_generations": 2, "per_device_train_batch_size": 2,
                  "max_completion_length": 8, "save_steps": 1, "report_to": []},
        "eval": {"benchmark": str(ifeval_path), "limit": 2,
                 "generation": {"max_new_tokens": 8, "batch_size": 2, "temperature": 0.0}},
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(app, ["run", str(tmp_path / "tiny.yaml")])
    assert res.exit_code == 0, res.output
    # the last line: every before/after delta with its paired bootstrap interval (selfif.eval.bootstrap)
    assert res.stdout.rstrip().splitlines()[-1].startswith("IFEval after vs before, 2 prompts, 95 % paired bootstrap: prompt strict")
    report = (tmp_path / "run" / "report.md").read_text()
    for heading in ("IFEval before and after", "Pseudo-label audit", "Reward model", "GRPO training", "Stage wall-clock"):
        assert heading in report
    assert (tmp_path / "run" / "ifeval_before_after.png").stat().st_size > 0
