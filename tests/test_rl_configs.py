"""Every preset in configs/ loads; `selfif train --dry-run` validates and prints launch commands."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from selfif.cli import app
from selfif.config import load_config

from conftest import REPO
PRESETS = sorted((REPO / "configs").glob("*.yaml"))
ACCELERATE = sorted((REPO / "configs" / "accelerate").glob("*.yaml"))
DEEPSPEED = sorted((REPO / "configs" / "deepspeed").glob("*.json"))


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch):
    monkeypatch.chdir(REPO)  # launch configs name files relative to the repository root


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_preset_loads(path):
    cfg = load_config(path)
    t = cfg.train
    assert (t.per_device_train_batch_size * (t.steps_per_generation or t.gradient_accumulation_steps)) % t.num_generations == 0
    if t.accelerate_config:
        assert (REPO / t.accelerate_config).exists()


def test_a_preset_setting_one_eval_decoding_field_keeps_the_other_eval_defaults(tmp_path):
    """cpu-2h sets eval.generation's tokens and batch only: its eval stays greedy at fp32 (before,
    the whole section was rebuilt from the labelling defaults and evaluated at bf16 on bf16 CPUs)."""
    cfg = load_config(REPO / "configs" / "cpu-2h.yaml")
    assert (cfg.eval.generation.precision, cfg.eval.generation.temperature) == ("fp32", 0.0)
    (tmp_path / "p.yaml").write_text("eval:\n  generation:\n    batch_size: 4\n")
    g = load_config(tmp_path / "p.yaml").eval.generation
    assert (g.batch_size, g.max_new_tokens, g.precision, g.temperature) == (4, 512, "fp32", 0.0)
    assert load_config(tmp_path / "p.yaml").label.generation.precision == "auto"  # labelling keeps its own


def test_gpu_presets_carry_the_paper_hyperparameters():
    for name in ("qwen2.5-1.5b-8gpu.yaml", "qwen2.5-7b-8gpu.yaml"):
        cfg = load_config(REPO / "configs" / name)
        t = cfg.train
        acc = yaml.safe_load((REPO / t.accelerate_config).read_text())
        prompts = t.per_device_train_batch_size * acc["num_processes"] * t.gradient_accumulation_steps // t.num_generations
        assert (t.learning_rate, t.num_generations, t.temperature, t.beta, t.precision, prompts) == (1e-6, 5, 1.0, 0.0, "bf16", 96), name
        assert t.weight_decay == 0.01 and t.warmup_steps == 0 and t.max_completion_length == 8192
        assert cfg.rm.lr == 5e-6 and cfg.rm.epochs == 3 and cfg.rm.batch_size == 1


@pytest.mark.parametrize("path", ACCELERATE, ids=lambda p: p.name)
def test_accelerate_configs(path):
    data = yaml.safe_load(path.read_text())
    assert data["distributed_type"] == "DEEPSPEED"
    assert data["num_processes"] % data["num_machines"] == 0
    assert (REPO / data["deepspeed_config"]["deepspeed_config_file"]).exists()


@pytest.mark.parametrize("path", DEEPSPEED, ids=lambda p: p.name)
def test_deepspeed_configs(path):
    assert json.loads(path.read_text())["zero_optimization"]["stage"] == 3


def test_dry_run_prints_accelerate_command():
    r = CliRunner().invoke(app, ["train", "--config", "configs/qwen2.5-7b-8gpu.yaml", "--curriculum", "runs/x/curriculum.jsonl",
                                 "--out", "runs/x/policy", "--rm", "runs/x/rm", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "96 prompts × 5 completions = 480" in r.output
    assert ("accelerate launch --config_file configs/accelerate/zero3-8gpu.yaml -m selfif.cli train --curriculum "
            "runs/x/curriculum.jsonl --out runs/x/policy --config configs/qwen2.5-7b-8gpu.yaml --rm runs/x/rm") in r.output


def test_dry_run_server_mode_prints_vllm_serve_and_multinode_launch():
    r = CliRunner().invoke(app, ["train", "--config", "configs/qwen2.5-1.5b-8gpu.yaml", "--curriculum", "c.jsonl", "--out", "o",
                                 "--set", "train.vllm_mode=server", "--set", "train.vllm_server_host=10.0.0.3",
                                 "--set", "train.accelerate_config=configs/accelerate/zero3-multinode.yaml", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "trl vllm-serve --model Qwen/Qwen2.5-1.5B-Instruct --tensor-parallel-size 1 --host 0.0.0.0 --port 8000" in r.output
    assert "--machine_rank $MACHINE_RANK --main_process_ip $MAIN_PROCESS_IP -m selfif.cli train" in r.output
    assert "--set train.vllm_server_host=10.0.0.3" in r.output


def test_dry_run_single_process_and_bad_batch():
    r = CliRunner().invoke(app, ["train", "--curriculum", "c.jsonl", "--out", "o", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "selfif train --curriculum c.jsonl --out o" in r.output
    r = CliRunner().invoke(app, ["train", "--curriculum", "c.jsonl", "--out", "o", "--dry-run", "--set", "train.num_generations=3"])
    assert r.exit_code == 2 and "not a multiple of num_generations (3)" in r.output


def test_train_bad_config_key_exits_2():
    r = CliRunner().invoke(app, ["train", "--curriculum", "c.jsonl", "--out", "o", "--set", "train.lr=1"])
    assert r.exit_code == 2 and "train.lr" in r.output


def test_grpo_args_typo_is_a_config_error_naming_the_key():
    r = CliRunner().invoke(app, ["train", "--curriculum", "c.jsonl", "--out", "o", "--dry-run",
                                 "--set", "train.grpo_args={loss_type: dr_grpo, los_type: x}"])
    assert r.exit_code == 2, r.output
    reason = r.output.split("train.grpo_args: ", 1)[1]  # after the source (the --set override, quoted whole)
    assert "los_type" in reason and "loss_type" not in reason


def test_out_dir_is_a_deprecated_alias_of_out():
    r = CliRunner().invoke(app, ["train", "--curriculum", "c.jsonl", "--out-dir", "o", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "--out-dir is deprecated" in r.output and "selfif train --curriculum c.jsonl --out o" in r.output


def test_train_missing_curriculum_exits_2(tmp_path):
    r = CliRunner().invoke(app, ["train", "--curriculum", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "does not exist" in r.output


@pytest.mark.parametrize("content, expected", [(b"\xff\xfenot yaml", ":1: not UTF-8 text"), (b"a: [1,\n", "not valid YAML")])
def test_dry_run_bad_accelerate_config_is_located(tmp_path, content, expected):
    bad = tmp_path / "accel.yaml"
    bad.write_bytes(content)
    r = CliRunner().invoke(app, ["train", "--curriculum", "c.jsonl", "--out", "o", "--dry-run",
                                 "--set", f"train.accelerate_config={bad}"])
    assert r.exit_code == 2, r.output
    assert str(bad) in r.output and expected in r.output
    assert "Traceback" not in r.output
