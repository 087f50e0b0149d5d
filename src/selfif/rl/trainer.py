"""GRPO over the constraint curriculum: the training stage around TRL's ``GRPOTrainer``.

We do not write a GRPO loop. :class:`selfif.rl.grpo_trainer.CurriculumGRPOTrainer` is TRL's trainer
with a curriculum sampler; its module docstring lists every TRL method it overrides and the TRL
version they were checked against. :mod:`selfif.rl.reward` adapts the reward to TRL's call.

This module builds the run: the curriculum rows, the ``GRPOConfig`` (:func:`build_grpo_config`),
the schedule and sampler, the reward function and the completion limits it shares with the
trainer, then trains, resumes from the newest checkpoint, and writes ``final/``, plots and the
summary. ``train.warmstart`` runs a repair-then-supervise fine-tune first (:mod:`selfif.rl.warmstart`).

:func:`train_policy` is the stage's Python API (used by ``selfif train`` and ``selfif run``).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from selfif.config import GRPO_NAMED, PipelineConfig, RewardConfig, TrainConfig
from selfif.io import InputError, atomic_write_json
from selfif.layout import TRAIN_SUMMARY
from selfif.models import DEFAULT_POLICY, load_tokenizer, resolve
from selfif.rl.dataset import build_dataset, level_counts, read_curriculum
from selfif.rl.reward import make_reward, trl_reward_with_levels
from selfif.rl.sampler import STATE_FILE, CurriculumSampler
from selfif.rl.schedules import make_schedule

log = logging.getLogger(__name__)

FINAL_DIR = "final"
WARMSTART_DIR = "warmstart"  # repair-then-supervise data, summary and weights (selfif.rl.warmstart)
SUMMARY_FILE = TRAIN_SUMMARY  # the name lives in selfif.layout


def _resolve_configs(cfg: PipelineConfig | TrainConfig, reward_cfg: RewardConfig | None) -> tuple[TrainConfig, RewardConfig, str | None]:
    if isinstance(cfg, PipelineConfig):
        return cfg.train, reward_cfg or cfg.reward, cfg.model
    return cfg, reward_cfg or RewardConfig(), None


def _report_to(requested: list[str]) -> list[str]:
    """Keep the trackers whose package is installed; warn about the ones dropped (TensorBoard is the default)."""
    if "none" in requested:
        return ["none"]
    out = []
    for name in requested:
        if importlib.util.find_spec(name) is None:
            log.warning("report_to %r asked for but the %r package is not installed; not logging to it", name, name)
        else:
            out.append(name)
    return out or ["none"]


def build_grpo_config(train: TrainConfig, out_dir: str | Path):
    """``trl.GRPOConfig`` from our ``TrainConfig``: the named fields (:data:`selfif.config.GRPO_NAMED`),
    the settings the stage fixes (:data:`selfif.config.GRPO_FIXED`), then ``train.grpo_args`` for the
    options selfif does not name (the config refuses it any of the former)."""
    import torch
    from trl import GRPOConfig

    from selfif.precision import training_precision

    kwargs: dict[str, Any] = {name: getattr(train, field) for name, field in GRPO_NAMED.items()}
    kwargs.update(
        report_to=_report_to(train.report_to),
        bf16=training_precision(train.precision) == "bf16",  # autocast: master weights stay fp32
        output_dir=str(out_dir),
        save_strategy="steps",
        remove_unused_columns=False,  # the reward needs the constraints/level/row columns
        ignore_data_skip=True,  # our sampler restores its own position (see selfif.rl.sampler)
        save_only_model=False,  # resume needs optimizer + scheduler + RNG
    )
    if train.steps_per_generation is None:
        del kwargs["steps_per_generation"]  # TRL's default: gradient_accumulation_steps
    if kwargs["bf16"] and not torch.cuda.is_available():
        kwargs["use_cpu"] = True  # transformers allows CPU bf16 autocast only when told it is on the CPU
    # selfif's defaults for options it does not name, which grpo_args may change
    defaults = dict(log_completions=False, dataloader_pin_memory=torch.cuda.is_available())
    return GRPOConfig(**{**defaults, **train.grpo_args, **kwargs})


def _filter_long_prompts(rows: list[dict], tokenizer, max_len: int) -> list[dict]:
    """Drop prompts longer than ``max_prompt_length`` tokens (truncating would cut constraints off)."""
    keep = []
    for r in rows:
        n = len(tokenizer.apply_chat_template(r["prompt"], tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"])
        if n <= max_len:
            keep.append(r)
    if len(keep) < len(rows):
        log.warning("dropped %d of %d prompts longer than train.max_prompt_length=%d tokens", len(rows) - len(keep), len(rows), max_len)
    for i, r in enumerate(keep):
        r["row"] = i
    return keep


def last_checkpoint(out_dir: str | Path) -> str | None:
    """Newest complete ``checkpoint-N`` in ``out_dir`` (complete = has our state file, written last)."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return None
    found = []
    for d in out_dir.glob("checkpoint-*"):
        suffix = d.name.rsplit("-", 1)[-1]
        if d.is_dir() and suffix.isdigit():
            if (d / STATE_FILE).exists():
                found.append((int(suffix), d))
            else:
                log.warning("ignoring incomplete checkpoint %s (no %s: the run stopped while saving)", d, STATE_FILE)
    return str(max(found)[1]) if found else None


def train_policy(
    cfg: PipelineConfig | TrainConfig,
    curriculum_path: str | Path,
    out_dir: str | Path,
    reward=None,
    *,
    model: str | None = None,
    rm_dir: str | Path | None = None,
    rm_url: str | None = None,
    reward_cfg: RewardConfig | None = None,
    resume: bool = True,
    plots: bool = True,
) -> dict[str, Any]:
    """Run GRPO on ``curriculum_path``; write checkpoints, ``final/``, plots and the summary.

    ``reward``: an :class:`selfif.reward.InstructionReward` (built from ``rm_dir`` / ``rm_url`` /
    ``reward_cfg`` when ``None``). ``resume``: continue from the newest ``checkpoint-*`` in
    ``out_dir`` (model, optimizer, scheduler, RNG and curriculum state). Returns the summary dict
    that is also written to ``out_dir/train_summary.json``.
    """
    if not Path(curriculum_path).exists():  # fail before the slow imports and model loading
        raise InputError(curriculum_path, None, "curriculum file does not exist (make it with `selfif synth`)")
    from selfif.rl.callbacks import CurriculumStateCallback
    from selfif.rl.plots import write_plots

    train, rcfg, pipeline_model = _resolve_configs(cfg, reward_cfg)
    model_name = model or train.model or pipeline_model or DEFAULT_POLICY
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if reward is None:
        reward = make_reward(rcfg, rm_dir, rm_url)

    rows = read_curriculum(curriculum_path, reward=reward)  # every row checked before anything is loaded
    tokenizer = load_tokenizer(model_name)
    rows = _filter_long_prompts(rows, tokenizer, train.max_prompt_length)
    if not rows:
        raise InputError(curriculum_path, None, f"every prompt is longer than train.max_prompt_length={train.max_prompt_length}")
    log.info("training on %d curriculum rows, per level %s", len(rows), level_counts(rows))

    warm = None
    if train.warmstart.enabled:  # GRPO starts from the repaired-answers fine-tune (selfif.rl.warmstart)
        from selfif.rl.warmstart import MODEL_DIR, audit_beside, run_warmstart

        from selfif.precision import training_precision

        warm = run_warmstart(train.warmstart, rows, model_name, out_dir / WARMSTART_DIR,
                             precision=training_precision(train.precision),
                             audit_path=audit_beside(curriculum_path))  # types: auto reads it
        policy_path = str(out_dir / WARMSTART_DIR / MODEL_DIR)
    else:
        policy_path = resolve(model_name)

    args = build_grpo_config(train, out_dir)
    chunk = args.generation_batch_size // args.num_generations
    schedule = make_schedule(
        train.schedule, [r["level"] for r in rows], seed=train.seed, level_steps=train.level_steps,
        advance_threshold=train.advance_threshold, epsilon=train.adaptive_epsilon,
    )
    sampler = CurriculumSampler(schedule, chunk, args.num_generations, args.num_iterations * args.steps_per_generation)

    ckpt = last_checkpoint(out_dir) if resume else None
    if ckpt is not None:
        sampler.load_checkpoint_state(json.loads((Path(ckpt) / STATE_FILE).read_text()))
        log.info("resuming from %s (curriculum round %d)", ckpt, sampler.consumed)

    from selfif.rl.grpo_trainer import CurriculumGRPOTrainer, completion_limits  # imports torch and TRL

    limits = completion_limits(policy_path, tokenizer, args.max_completion_length)  # the reward's and the trainer's
    reward_fn = trl_reward_with_levels(reward, limits, truncated_fails_end_constraints=train.truncated_fails_end_constraints,
                                       looping_fails=train.looping_fails)
    trainer = CurriculumGRPOTrainer(
        model=policy_path,
        reward_funcs=reward_fn,
        args=args,
        train_dataset=build_dataset(rows),
        processing_class=tokenizer,
        callbacks=[CurriculumStateCallback(sampler)],
        curriculum_sampler=sampler,
        completion_limits=limits,
        selfif_train=train,
    )
    start_step = trainer.state.global_step if ckpt is None else int(Path(ckpt).name.split("-")[-1])
    t0 = time.time()
    try:
        trainer.train(resume_from_checkpoint=ckpt)
    finally:
        if trainer.ov_rollouts is not None:
            trainer.ov_rollouts.close()
    wall = time.time() - t0

    final = out_dir / FINAL_DIR
    _save_final(trainer, tokenizer, final)
    summary = summarize(trainer.state.log_history, wall_s=wall, start_step=start_step, resumed_from=ckpt,
                        model=model_name, schedule=train.schedule, n_rows=len(rows), levels=level_counts(rows),
                        final_dir=str(final), beta=train.beta, guidance=train.guidance,
                        truncated_fails_end_constraints=train.truncated_fails_end_constraints, warmstart=warm)
    summary["precision"] = "bf16" if args.bf16 else "fp32"  # resolved (selfif.precision)
    summary["rollout_backend"] = trainer.rollout_backend  # resolved train.rollout_backend
    summary["rollout_copy"] = "bf16" if trainer.wants_rollout_copy else "off"  # resolved train.rollout_copy
    summary["logprob_head"] = "unfused" if trainer.unfused_logprobs else "fused"  # resolved train.logprob_head
    if trainer.is_world_process_zero():
        if plots:
            summary["plots"] = write_plots(trainer.state.log_history, out_dir / "plots", beta=train.beta)
        atomic_write_json(out_dir / SUMMARY_FILE, summary)
    return summary


def _save_final(trainer, tokenizer, final: Path) -> None:
    """Plain HF checkpoint (safetensors + tokenizer), swapped into place whole.

    ``save_model`` runs on every process: under ZeRO-3 it gathers the sharded weights (the
    Trainer writes files from the main process only).
    """
    tmp = final.parent / f".{final.name}.partial"
    main = trainer.is_world_process_zero()
    if main and tmp.exists():
        shutil.rmtree(tmp)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(tmp))
    if main:
        tokenizer.save_pretrained(str(tmp))
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    trainer.accelerator.wait_for_everyone()


def summarize(log_history: list[dict], **extra) -> dict[str, Any]:
    """train_summary.json: steps, wall time, time per step (split), rewards overall and per level."""
    steps = [h for h in log_history if "reward" in h]
    levels = sorted({k.split("/L")[1] for h in steps for k in h if k.startswith("reward_level/L")}, key=int)

    def mean(key, rows=steps):
        xs = [h[key] for h in rows if h.get(key) is not None]
        return sum(xs) / len(xs) if xs else None

    def last(key):
        xs = [h[key] for h in steps if h.get(key) is not None]
        return xs[-1] if xs else None

    end = next((h for h in reversed(log_history) if "train_runtime" in h), {})
    out = dict(extra)
    out.update(
        global_step=max((h.get("step", 0) for h in log_history), default=0),
        logged_steps=len(steps),
        train_runtime_s=end.get("train_runtime"),
        time_per_step_s=mean("step_time"),
        generation_s_per_step=mean("timing/generation_s"),
        weights_sync_s_per_step=mean("timing/weights_sync_s"),  # OpenVINO rollouts: part of generation_s
        reward_s_per_step=mean("timing/reward_s"),
        reward_mean=mean("reward"),
        reward_final=last("reward"),
        reward_first=steps[0]["reward"] if steps else None,
        hard_mean=mean("constraint_reward/hard"),
        soft_mean=mean("constraint_reward/soft"),
        completion_length_mean=mean("completions/mean_length"),
        per_level={
            f"L{lv}": {
                "mean": mean(f"reward_level/L{lv}"),
                "final": last(f"reward_level/L{lv}"),
                "hard_mean": mean(f"constraint_reward_level/L{lv}/hard"),
                "soft_mean": mean(f"constraint_reward_level/L{lv}/soft"),
            }
            for lv in levels
        },
    )
    out["steps"] = [
        {
            "step": h["step"],
            "reward": h.get("reward"),
            "time_s": h.get("step_time"),
            "generation_s": h.get("timing/generation_s"),
            "weights_sync_s": h.get("timing/weights_sync_s"),
            "reward_s": h.get("timing/reward_s"),
            "mean_completion_length": h.get("completions/mean_length"),
            "clipped_ratio": h.get("completions/clipped_ratio"),
            "entropy": h.get("entropy"),
            "guidance_share": h.get("guidance/share"),
            "onpolicy_pass": h.get("onpolicy_pass/all"),
            "greedy_looping": h.get("greedy/looping"),
        }
        for h in steps
    ]
    out["guidance_share_mean"] = mean("guidance/share")
    out["clipped_ratio_mean"] = mean("completions/clipped_ratio")
    out["onpolicy_pass"] = _onpolicy_summary(steps)
    if out["time_per_step_s"] is not None and out["generation_s_per_step"] is not None:
        out["update_s_per_step"] = out["time_per_step_s"] - out["generation_s_per_step"] - (out["reward_s_per_step"] or 0.0)
    return out


def _onpolicy_summary(steps: list[dict]) -> dict[str, dict[str, float | int | None]]:
    """Per type (and ``all``/``prompt``): mean on-policy pass rate over the run, over its first and
    last quarter of logged steps (the honest learning curve in two numbers), and the steps seen."""
    keys = sorted({k for h in steps for k in h if k.startswith("onpolicy_pass/")})
    out = {}
    for key in keys:
        xs = [h[key] for h in steps if h.get(key) is not None]
        q = max(1, len(xs) // 4)
        out[key.split("/", 1)[1]] = {"mean": sum(xs) / len(xs), "first": sum(xs[:q]) / q, "last": sum(xs[-q:]) / q, "steps": len(xs)}
    return out
