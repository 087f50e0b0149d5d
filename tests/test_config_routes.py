"""One route per setting: a replaced key names its successor, and ``train.grpo_args`` refuses the
GRPOConfig fields that a named ``train`` field (or the stage itself) sets."""

from __future__ import annotations

from dataclasses import fields

from typer.testing import CliRunner

from selfif.cli import app
from selfif.config import GRPO_FIXED, GRPO_NAMED, TrainConfig, load_config


def _last_line(args: list[str]) -> str:
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2, r.output
    return r.output.strip().splitlines()[-1]


def test_the_old_bf16_switch_is_refused_naming_precision_at_its_line(tmp_path):
    preset = tmp_path / "old.yaml"
    preset.write_text("train:\n  max_steps: 3\n  bf16: true\n")
    line = _last_line(["config", "-c", str(preset)])
    assert line.startswith(f"error: {preset}:3: train: bf16 was replaced by precision"), line
    assert "precision: bf16" in line
    line = _last_line(["config", "--set", "train.bf16=false"])
    assert line.startswith("error: --set train.bf16=false: train: bf16 was replaced by precision"), line
    assert load_config(None, ["train.precision=bf16"]).train.precision == "bf16"


def test_grpo_args_refuses_what_a_named_field_or_the_stage_sets():
    line = _last_line(["config", "--set", "train.grpo_args={loss_type: dr_grpo, learning_rate: 1e-5, data_seed: 3, "
                       "bf16: true, remove_unused_columns: true}"])
    reason = line.split("train.grpo_args: ", 1)[1]
    assert "learning_rate: set train.learning_rate instead" in reason
    assert "data_seed: set train.seed instead" in reason and "bf16: set train.precision instead" in reason
    assert "remove_unused_columns: fixed by selfif (the reward reads" in reason
    assert "loss_type" not in reason  # an option selfif does not name passes
    assert load_config(None, ["train.grpo_args={loss_type: dr_grpo}"]).train.grpo_args == {"loss_type": "dr_grpo"}


def test_the_route_tables_name_real_fields():
    from trl import GRPOConfig

    trl_fields = {f.name for f in fields(GRPOConfig)}
    assert set(GRPO_NAMED) | set(GRPO_FIXED) <= trl_fields, (set(GRPO_NAMED) | set(GRPO_FIXED)) - trl_fields
    assert set(GRPO_NAMED.values()) <= set(TrainConfig.model_fields)
    assert not set(GRPO_NAMED) & set(GRPO_FIXED)


def test_every_named_field_reaches_grpo_config_and_grpo_args_the_rest(tmp_path):
    from selfif.rl.trainer import build_grpo_config

    train = TrainConfig(
        num_generations=4, max_completion_length=33, temperature=0.9, top_p=0.8, vllm_mode="server",
        vllm_gpu_memory_utilization=0.5, vllm_tensor_parallel_size=2, vllm_server_host="10.0.0.2",
        vllm_server_port=8001, max_steps=7, learning_rate=3e-6, lr_scheduler_type="linear", warmup_steps=2,
        weight_decay=0.1, max_grad_norm=0.5, per_device_train_batch_size=4, gradient_accumulation_steps=2,
        steps_per_generation=2, num_iterations=2, beta=0.04, scale_rewards="batch", logging_steps=3,
        report_to=["none"], save_steps=4, save_total_limit=1, gradient_checkpointing=True, seed=11,
        precision="fp32", grpo_args={"loss_type": "dr_grpo", "log_completions": True})
    args = build_grpo_config(train, tmp_path)
    for name, field in GRPO_NAMED.items():
        if name not in ("bf16", "report_to"):  # resolved on the way (precision; trackers installed)
            want = getattr(train, field)
            assert getattr(args, name) == want, (name, getattr(args, name), want)
    assert args.bf16 is False and args.output_dir == str(tmp_path) and args.remove_unused_columns is False
    assert args.loss_type == "dr_grpo" and args.log_completions is True  # a selfif default grpo_args may change
    assert build_grpo_config(TrainConfig(), tmp_path).log_completions is False
