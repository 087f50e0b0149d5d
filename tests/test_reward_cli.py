"""`selfif train-rm` / `selfif serve-rm` command-line behaviour on bad input (no model work)."""

from __future__ import annotations

from typer.testing import CliRunner

from selfif.cli import app

runner = CliRunner()


def test_train_rm_reports_a_bad_pairs_line_with_file_and_line(tmp_path):
    f = tmp_path / "pairs.jsonl"
    f.write_text('{"seed_id": "s", "constraint": {"id": "soft:tone_and_emotion", "kind": "soft"}, "response": "r", "label": 1}\nnot json\n')
    r = runner.invoke(app, ["train-rm", "--pairs", str(f), "--out", str(tmp_path / "rm")])
    assert r.exit_code == 2
    assert f"{f}:2: not valid JSON" in r.output
    assert not (tmp_path / "rm").exists()


def test_train_rm_rejects_bad_settings_and_a_missing_audit(tmp_path):
    f = tmp_path / "pairs.jsonl"
    f.write_text('{"seed_id": "s", "constraint": {"id": "soft:tone_and_emotion", "kind": "soft"}, "response": "r", "label": 1}\n')
    r = runner.invoke(app, ["train-rm", "--pairs", str(f), "--out", str(tmp_path / "rm"), "--audit", str(tmp_path / "none.json")])
    assert r.exit_code == 2 and "none.json: file does not exist" in r.output


def test_serve_rm_refuses_a_directory_that_is_not_a_checkpoint(tmp_path):
    r = runner.invoke(app, ["serve-rm", "--checkpoint", str(tmp_path)])
    assert r.exit_code == 2 and "not a reward-model checkpoint" in r.output


def test_serve_rm_takes_its_checkpoint_from_the_preset_run_dir(tmp_path):
    """`--rm` (alias `--checkpoint`) defaults to <run_dir>/rm of `-c/--config` + `--set`."""
    r = runner.invoke(app, ["serve-rm", "-c", "configs/demo-cpu.yaml", "--set", f"run_dir={tmp_path}"])
    assert r.exit_code == 2 and f"{tmp_path / 'rm'} is not a reward-model checkpoint" in r.output
