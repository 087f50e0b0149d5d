"""`selfif run`: stage skipping/resume by config hash, and (slow) the whole pipeline on the real model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from selfif.config import load_config
from selfif.pipeline import Stage, run_pipeline


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
    cfg2 = load_config(None, [f"run_dir={tmp_path}", "train.learning_rate=0.5"])
    run_pipeline(cfg2, _stages(calls))  # other config: b's old partial work must not be resumed
    assert not (tmp_path / "b.work").exists()


def test_every_shipped_preset_validates():
    for path in sorted(Path(__file__).resolve().parents[1].glob("configs/*.yaml")):
        cfg = load_config(path)
        assert cfg.run_dir and cfg.model, path


@pytest.mark.slow
def test_whole_pipeline_tiny(tmp_path):
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
        "eval": {"limit": 2, "generation": {"max_new_tokens": 8, "batch_size": 2, "temperature": 0.0}},
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(app, ["run", str(tmp_path / "tiny.yaml")])
    assert res.exit_code == 0, res.output
    report = (tmp_path / "run" / "report.md").read_text()
    for heading in ("IFEval before and after", "Pseudo-label audit", "Reward model", "GRPO training", "Stage wall-clock"):
        assert heading in report
    assert (tmp_path / "run" / "ifeval_before_after.png").stat().st_size > 0
