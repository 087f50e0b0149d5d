"""GRPO over the constraint curriculum: TRL's ``GRPOTrainer`` with a curriculum sampler.

We do not write a GRPO loop. :class:`CurriculumGRPOTrainer` changes three things in TRL's trainer:

- ``_get_train_sampler`` returns our :class:`~selfif.rl.sampler.CurriculumSampler` (same index
  structure as TRL's ``RepeatSampler``; the schedule picks the prompts);
- ``_calculate_rewards`` feeds each round's rewards (gathered over processes, so every rank's
  schedule stays identical) back to the schedule and logs reward per curriculum level and the
  active level;
- ``_generate`` / ``_calculate_rewards`` are timed, so ``log_history`` splits a step into
  generation, reward and the rest (the policy update);
- ``_generate`` also logs the on-policy pass rates and, with ``train.guidance: repair``, swaps
  code-repaired completions into groups with no signal (:mod:`selfif.rl.guidance`); the
  ``_generate_and_score_completions`` wrapper hands it the rows' constraints and clips the guided
  completions' advantages.

``_get_per_token_logps_and_entropies`` computes the loss's log-probabilities from the completion
positions' logits instead of TRL's fused LM head where ``train.logprob_head`` says so (on a CPU by
default; :mod:`selfif.rl.logprobs`).

``_generate_single_turn`` generates the rollouts with OpenVINO holding the policy's current weights
(``train.rollout_backend``, :mod:`selfif.rl.ov_rollouts`) or with HF ``generate`` from a bf16 copy
of the policy (``train.rollout_copy``, :mod:`selfif.rl.rollout_copy`).

``train.warmstart`` runs a repair-then-supervise fine-tune first (:mod:`selfif.rl.warmstart`);
``train.truncated_fails_end_constraints`` applies :mod:`selfif.rl.truncation` to the reward.

:func:`train_policy` is the stage's Python API (used by ``selfif train`` and ``selfif run``).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import random
import shutil
import time
from pathlib import Path
from typing import Any

from selfif.batches import is_truncated
from selfif.config import PipelineConfig, RewardConfig, TrainConfig
from selfif.io import InputError, JsonlAppender, atomic_write_json
from selfif.layout import GUIDANCE_LOG, TRAIN_SUMMARY  # GUIDANCE_LOG: every guided completion (selfif.rl.guidance)
from selfif.models import DEFAULT_POLICY, load_tokenizer, resolve
from selfif.rl.dataset import build_dataset, level_counts, read_curriculum
from selfif.rl.logprobs import completion_logps, wants_unfused
from selfif.rl.ov_rollouts import OpenVINORollouts, wants_openvino
from selfif.rl.ov_rollouts import unsupported as ov_unsupported
from selfif.rl.rollout_copy import Bf16RolloutCopy, wants_rollout_copy
from selfif.rl.sampler import STATE_FILE, CurriculumSampler
from selfif.rl.schedules import make_schedule
from selfif.rl.truncation import end_dependent

log = logging.getLogger(__name__)

FINAL_DIR = "final"
WARMSTART_DIR = "warmstart"  # repair-then-supervise data, summary and weights (selfif.rl.warmstart)
SUMMARY_FILE = TRAIN_SUMMARY  # the name lives in selfif.layout


def _trainer_class():
    """Build the subclass lazily: importing TRL is slow and ``selfif --help`` must stay fast."""
    import torch
    from accelerate.utils import gather_object
    from trl import GRPOTrainer

    class CurriculumGRPOTrainer(GRPOTrainer):
        def __init__(self, *args, curriculum_sampler: CurriculumSampler, selfif_train: TrainConfig | None = None, **kwargs):
            self.curriculum_sampler = curriculum_sampler
            self.selfif_train = selfif_train or TrainConfig()
            self._batch_inputs: list[dict] | None = None
            self._guided_local: list[bool] | None = None
            super().__init__(*args, **kwargs)
            on_cpu = self.accelerator.device.type == "cpu"
            self.rollout_backend = self._resolve_rollout_backend()
            self.ov_rollouts: OpenVINORollouts | None = None  # built at the first rollout (selfif.rl.ov_rollouts)
            self._ov_calls: tuple[int, int] = (-1, 0)  # (step, rollouts generated at it): the engine's seed
            self.rollout_copy: Bf16RolloutCopy | None = None  # created at the first rollout (selfif.rl.rollout_copy)
            self.wants_rollout_copy = self.rollout_backend == "transformers" and wants_rollout_copy(
                self.selfif_train.rollout_copy, self.args.bf16, on_cpu, self.args.use_vllm)
            self.unfused_logprobs = wants_unfused(self.selfif_train.logprob_head, on_cpu)
            self.greedy_member = self.selfif_train.greedy_member  # selfif.rl.greedy
            if self.greedy_member:
                if self.args.use_vllm:
                    raise ValueError("train.greedy_member needs HF generate or OpenVINO rollouts, not vLLM")
                local = self.args.per_device_train_batch_size * self.args.steps_per_generation
                if local % self.num_generations:
                    raise ValueError(f"train.greedy_member needs whole groups per process: {local} completions per "
                                     f"process and rollout round do not split into groups of {self.num_generations}")

        def _resolve_rollout_backend(self) -> str:
            setting = self.selfif_train.rollout_backend
            if not wants_openvino(setting, self.args.use_vllm):
                return "transformers"
            reason = ov_unsupported(self.accelerator.unwrap_model(self.model), self._tokenizer, self.generation_kwargs)
            if reason is None:
                return "openvino"
            if setting == "openvino":
                raise ValueError(f"train.rollout_backend=openvino cannot serve this run: {reason}")
            log.info("rollouts use HF generate: the openvino backend cannot serve this run (%s)", reason)
            return "transformers"

        def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep,
                                                batch_size=None, compute_entropy=False, compute_aux_loss=False, **extra):
            # extra: TRL's multimodal inputs, None for text; anything else goes to TRL's fused head
            if not self.unfused_logprobs or compute_aux_loss or any(v is not None for v in extra.values()):
                return super()._get_per_token_logps_and_entropies(
                    model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size,
                    compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss, **extra)
            logps, entropies = completion_logps(
                model, input_ids, attention_mask, logits_to_keep, temperature=self.temperature, batch_size=batch_size,
                compute_entropy=compute_entropy, entropy_grad=self._entropy_bonus_enabled,
                autocast=self.accelerator.autocast)
            return logps, entropies, None

        def _get_train_sampler(self, dataset=None):
            return self.curriculum_sampler

        def _generate_and_score_completions(self, inputs):
            # _generate sees only the prompts; guidance needs the rows' constraints
            self._batch_inputs, self._guided_local = inputs, None
            try:
                out = super()._generate_and_score_completions(inputs)
            finally:  # never pair a later batch's prompts with these rows
                self._batch_inputs = None
            cap = self.selfif_train.guidance_max_advantage
            if self._guided_local is not None and any(self._guided_local):
                mask = torch.tensor(self._guided_local, device=out["advantages"].device)
                if cap is not None:
                    out["advantages"] = torch.where(mask, out["advantages"].clamp(max=cap), out["advantages"])
                self._metrics["train"]["guidance/advantage"].append(out["advantages"][mask].mean().item())
            return out

        def _generate(self, prompts):
            t0 = time.perf_counter()
            out = super()._generate(prompts)
            mode = "train" if self.model.training else "eval"
            self._metrics[mode]["timing/generation_s"].append(time.perf_counter() - t0)
            if mode == "train" and self.greedy_member:
                from selfif.reward.function import _message_text
                from selfif.rl.greedy import heads, looping_share

                texts = [_message_text(c, "assistant") for c in out[3]]
                self._metrics["train"]["greedy/looping"].append(looping_share(texts, heads(len(texts), self.num_generations)))
            if mode == "train" and self._batch_inputs is not None:
                out = self._guide(prompts, out)
            return out

        def _generate_single_turn(self, prompt_ids, images, multimodal_fields, *args, **kwargs):
            if not (self.greedy_member and self.model.training and images is None and not multimodal_fields):
                return self._rollouts(prompt_ids, images, multimodal_fields, *args, **kwargs)
            from selfif.rl import greedy as GR

            first = GR.heads(len(prompt_ids), self.num_generations)
            rest = [i for i in range(len(prompt_ids)) if i % self.num_generations]
            sampled_ids, sampled_lp = self._rollouts([prompt_ids[i] for i in rest], images, multimodal_fields, *args, **kwargs)
            config, gen_kwargs = self.generation_config, self.generation_kwargs
            self.generation_kwargs = GR.greedy_kwargs(gen_kwargs)
            self.generation_config = type(config)(**self.generation_kwargs, disable_compile=True)
            try:
                greedy_ids, _ = self._rollouts([prompt_ids[i] for i in first], images, multimodal_fields, *args, **kwargs)
            finally:
                self.generation_config, self.generation_kwargs = config, gen_kwargs
            ids = GR.interleave(len(prompt_ids), first, greedy_ids, sampled_ids)
            logprobs = None if sampled_lp is None else GR.interleave(len(prompt_ids), first, [None] * len(first), sampled_lp)
            return ids, logprobs

        def _rollouts(self, prompt_ids, images, multimodal_fields, *args, **kwargs):
            """Completions for ``prompt_ids`` from the configured engine, with the current generation settings."""
            if self.rollout_backend == "openvino" and images is None and not multimodal_fields:
                return self._openvino_rollouts(prompt_ids), None
            args = (prompt_ids, images, multimodal_fields, *args)
            if not self.wants_rollout_copy:
                return super()._generate_single_turn(*args, **kwargs)
            policy = self.accelerator.unwrap_model(self.model)
            if self.rollout_copy is None:
                self.rollout_copy = Bf16RolloutCopy(policy)
            self.rollout_copy.sync(policy, self.state.global_step)
            wrapped = self.model_wrapped
            self.model_wrapped = self.rollout_copy.model  # TRL's HF-generate path generates from model_wrapped
            try:
                return super()._generate_single_turn(*args, **kwargs)
            finally:
                self.model_wrapped = wrapped

        def _openvino_rollouts(self, prompt_ids):
            policy = self.accelerator.unwrap_model(self.model)
            if self.ov_rollouts is None:
                self.ov_rollouts = OpenVINORollouts(policy, self._tokenizer, "bf16" if self.args.bf16 else "fp32")
            step = self.state.global_step
            sync_s = self.ov_rollouts.sync(policy, step)
            if self.model.training:
                self._metrics["train"]["timing/weights_sync_s"].append(sync_s)
            calls = self._ov_calls[1] + 1 if self._ov_calls[0] == step else 0
            self._ov_calls = (step, calls)
            seed = ((self.selfif_train.seed * 1_000_003 + step) * 101 + calls) * 64 + self.accelerator.process_index
            return self.ov_rollouts.generate(prompt_ids, self.generation_kwargs, seed)

        def _guide(self, prompts, out):
            """Log on-policy pass rates; with ``guidance: repair`` swap in repaired completions (selfif.rl.guidance)."""
            from selfif.reward.function import _message_text
            from selfif.rl import guidance as G

            prompt_ids, completion_ids, tool_mask, completions, logprobs, extra, images, tool_images = out
            cfg = self.selfif_train
            eos = [*self.eos_token_ids, self._tokenizer.pad_token_id]
            local = [
                G.Rollout(x["constraints"], _message_text(p, "user"), _message_text(c, "assistant"), is_truncated(ids, eos))
                for x, p, c, ids in zip(self._batch_inputs, prompts, completions, completion_ids, strict=True)
            ]
            rollouts = gather_object(local)
            step = self.state.global_step
            max_len = self.args.max_completion_length

            def encode(text: str):
                ids = self._tokenizer.encode(text, add_special_tokens=False)
                if len(ids) + 1 > max_len:
                    return None
                return [*ids, self.eos_token_ids[0]], self._tokenizer.decode(ids, skip_special_tokens=True)

            guided, metrics = G.plan_batch(
                rollouts, self.num_generations, k=cfg.guidance_per_group, factor=G.share_factor(step, cfg.guidance_decay_steps),
                rng=random.Random(cfg.seed * 1_000_003 + step), encode=encode, enabled=cfg.guidance == "repair",
            )
            for k, v in metrics.items():
                self._metrics["train"][k].append(v)
            if guided and self.is_world_process_zero():  # what was repaired, for reading (and tests)
                with JsonlAppender(Path(self.args.output_dir) / GUIDANCE_LOG) as f:
                    for gi, g in sorted(guided.items()):
                        f.write({"step": step + 1, "index": gi, "stuck": list(g.stuck), "original": g.original, "repaired": g.text,
                                 "prompt": rollouts[gi].prompt})
            offset = self.accelerator.process_index * len(prompts)
            self._guided_local = [False] * len(prompts)
            for gi, g in guided.items():
                i = gi - offset
                if not 0 <= i < len(prompts):
                    continue
                self._guided_local[i] = True
                completion_ids[i] = g.ids
                content = g.text
                completions[i] = [{"role": "assistant", "content": content}] if isinstance(completions[i], list) else content
                if logprobs is not None:
                    logprobs[i] = [None] * len(g.ids)  # unknown sampling log-probs: TRL makes them NaN, no correction
                if tool_mask is not None:
                    tool_mask[i] = [1] * len(g.ids)
            return prompt_ids, completion_ids, tool_mask, completions, logprobs, extra, images, tool_images

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            t0 = time.perf_counter()
            per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            if not self.model.training:
                return per_func
            metrics = self._metrics["train"]
            metrics["timing/reward_s"].append(time.perf_counter() - t0)
            rows = gather_object([int(x["row"]) for x in inputs])
            levels = gather_object([int(x["level"]) for x in inputs])
            weights = self.reward_weights.to(per_func.device).unsqueeze(0)
            total = (per_func * weights).nansum(dim=1)
            total[torch.isnan(per_func).all(dim=1)] = torch.nan
            rewards = total.tolist()
            smp = self.curriculum_sampler
            # level of the chunk being scored (the schedule itself may already be a chunk ahead)
            active = smp.chunk_levels.get(smp.consumed)
            smp.observe(rows, rewards)
            by_level: dict[int, list[float]] = {}
            for lv, r in zip(levels, rewards, strict=True):
                if r == r:
                    by_level.setdefault(lv, []).append(r)
            for lv, rs in sorted(by_level.items()):
                metrics[f"reward_level/L{lv}"].append(sum(rs) / len(rs))
            metrics["curriculum/mean_level"].append(sum(levels) / len(levels))
            if active is not None:
                metrics["curriculum/active_level"].append(float(active))
            return per_func

    return CurriculumGRPOTrainer


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
    """``trl.GRPOConfig`` from our ``TrainConfig``; ``train.grpo_args`` overrides any field."""
    import torch
    from trl import GRPOConfig

    from selfif.precision import training_precision

    kwargs: dict[str, Any] = dict(
        output_dir=str(out_dir),
        max_steps=train.max_steps,
        learning_rate=train.learning_rate,
        weight_decay=train.weight_decay,
        lr_scheduler_type=train.lr_scheduler_type,
        warmup_steps=train.warmup_steps,
        max_grad_norm=train.max_grad_norm,
        num_generations=train.num_generations,
        per_device_train_batch_size=train.per_device_train_batch_size,
        gradient_accumulation_steps=train.gradient_accumulation_steps,
        max_completion_length=train.max_completion_length,
        temperature=train.temperature,
        top_p=train.top_p,
        beta=train.beta,
        num_iterations=train.num_iterations,
        scale_rewards=train.scale_rewards,
        save_strategy="steps",
        save_steps=train.save_steps,
        save_total_limit=train.save_total_limit,
        logging_steps=train.logging_steps,
        report_to=_report_to(train.report_to),
        bf16=training_precision(train.precision, train.bf16) == "bf16",  # autocast: master weights stay fp32
        gradient_checkpointing=train.gradient_checkpointing,
        seed=train.seed,
        data_seed=train.seed,
        use_vllm=train.use_vllm,
        vllm_mode=train.vllm_mode,
        vllm_gpu_memory_utilization=train.vllm_gpu_memory_utilization,
        vllm_tensor_parallel_size=train.vllm_tensor_parallel_size,
        vllm_server_host=train.vllm_server_host,
        vllm_server_port=train.vllm_server_port,
        remove_unused_columns=False,  # the reward needs the constraints/level/row columns
        ignore_data_skip=True,  # our sampler restores its own position (see selfif.rl.sampler)
        save_only_model=False,  # resume needs optimizer + scheduler + RNG
        log_completions=False,
        dataloader_pin_memory=torch.cuda.is_available(),
    )
    if train.steps_per_generation is not None:
        kwargs["steps_per_generation"] = train.steps_per_generation
    if kwargs["bf16"] and not torch.cuda.is_available():
        kwargs["use_cpu"] = True  # transformers allows CPU bf16 autocast only when told it is on the CPU
    kwargs.update(train.grpo_args)
    return GRPOConfig(**kwargs)


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


class _RecordingReward:
    """Proxy of an InstructionReward that keeps the last batch's per-row results (components, kinds)."""

    def __init__(self, reward):
        self.reward = reward
        self.last = None

    def score_batch(self, rows):
        self.last = self.reward.score_batch(rows)
        return self.last

    def __getattr__(self, name):
        return getattr(self.reward, name)


def trl_reward_with_levels(reward, truncated_fails_end_constraints: bool = False, looping_fails: bool = False):
    """The reward helper's TRL adapter, plus hard/soft component means per curriculum level.

    The adapter already logs ``constraint_reward/{hard,soft}`` over the batch; here we add
    ``constraint_reward_level/L<k>/{hard,soft}`` (which constraints get learned at which depth).
    With ``truncated_fails_end_constraints``, a completion whose ids do not end in one of
    ``instruction.eos_ids`` (set by :func:`train_policy` from the trainer) scores 0 on its
    end-dependent constraints (:mod:`selfif.rl.truncation`). With ``looping_fails``, one that ends in
    a repetition loop scores 0 on every constraint (:mod:`selfif.rl.greedy`).
    """
    from selfif.reward import make_trl_reward

    rec = _RecordingReward(reward)
    inner = make_trl_reward(rec)

    def instruction(prompts, completions, **kwargs):
        out = inner(prompts=prompts, completions=completions, **kwargs)
        if truncated_fails_end_constraints and kwargs.get("completion_ids") is not None:
            out = _fail_truncated(out, rec.last, kwargs["constraints"], kwargs["completion_ids"], instruction.eos_ids, kwargs.get("log_metric"))
        if looping_fails and rec.last is not None:
            from selfif.reward.function import _message_text
            from selfif.rl.greedy import fail_looping

            out, zeroed = fail_looping(out, rec.last, [_message_text(c, "assistant") for c in completions])
            if callable(kwargs.get("log_metric")):
                kwargs["log_metric"]("looping/zeroed", zeroed / max(1, len(out)))
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and rec.last is not None and "level" in kwargs:
            acc: dict[tuple[int, str], list[float]] = {}
            for lv, res in zip(kwargs["level"], rec.last, strict=True):
                for kind, v in zip(res.kinds, res.components, strict=True):
                    acc.setdefault((int(lv), kind), []).append(v)
            for (lv, kind), vs in sorted(acc.items()):
                log_metric(f"constraint_reward_level/L{lv}/{kind}", sum(vs) / len(vs))
        return out

    instruction.eos_ids = []
    return instruction


def _fail_truncated(totals, results, constraints, completion_ids, eos_ids, log_metric) -> list[float]:
    """Zero the end-dependent components of truncated completions (in ``results`` too) and re-average."""
    out = list(totals)
    zeroed = 0
    for r, (res, cons, ids) in enumerate(zip(results, constraints, completion_ids, strict=True)):
        if not is_truncated(ids, eos_ids):
            continue
        cons = json.loads(cons) if isinstance(cons, str) else cons
        for j, c in enumerate(cons):
            if c["kind"] == "hard" and end_dependent(c["id"], c.get("kwargs")) and res.components[j] > 0:
                res.components[j] = 0.0
                zeroed += 1
        if res.components:
            out[r] = res.total = sum(res.components) / len(res.components)
    if callable(log_metric):
        log_metric("truncation/end_constraints_zeroed", zeroed / max(1, len(out)))
    return out


def make_reward(reward_cfg: RewardConfig, rm_dir: str | Path | None = None, rm_url: str | None = None):
    """The paper's reward (InstructionReward) with an in-process RM, an HTTP RM, or none (hard only)."""
    from selfif.reward import InstructionReward

    if rm_url and rm_dir:
        raise ValueError("give either an RM directory (--rm) or an RM server URL (--rm-url), not both")
    url = rm_url or (None if rm_dir else reward_cfg.rm_url)  # an explicit RM beats the config's reward.rm_url
    return InstructionReward.from_config(reward_cfg.model_copy(update={"rm_url": url}), rm_dir=rm_dir)  # URL wins there


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
        raise ValueError(f"every prompt in {curriculum_path} is longer than train.max_prompt_length={train.max_prompt_length}")
    log.info("training on %d curriculum rows, per level %s", len(rows), level_counts(rows))

    warm = None
    if train.warmstart.enabled:  # GRPO starts from the repaired-answers fine-tune (selfif.rl.warmstart)
        from selfif.rl.warmstart import MODEL_DIR, run_warmstart

        from selfif.precision import training_precision

        warm = run_warmstart(train.warmstart, rows, model_name, out_dir / WARMSTART_DIR,
                             precision=training_precision(train.precision, train.bf16))
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

    reward_fn = trl_reward_with_levels(reward, train.truncated_fails_end_constraints, train.looping_fails)
    trainer = _trainer_class()(
        model=policy_path,
        reward_funcs=reward_fn,
        args=args,
        train_dataset=build_dataset(rows),
        processing_class=tokenizer,
        callbacks=[CurriculumStateCallback(sampler)],
        curriculum_sampler=sampler,
        selfif_train=train,
    )
    reward_fn.eos_ids = [*trainer.eos_token_ids, tokenizer.pad_token_id]
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
