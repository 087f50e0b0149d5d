"""TRL's ``GRPOTrainer`` with a curriculum sampler: :class:`CurriculumGRPOTrainer`.

We do not write a GRPO loop; we override TRL hooks. Checked against TRL 1.16.0 (with transformers
5.25 and accelerate 1.16); ``pyproject.toml`` pins TRL to that minor release and
``tests/test_trl_contract.py`` fails, naming the method, when one of these TRL methods disappears or
its parameters change. Every TRL method the class overrides (all but ``__init__`` private to TRL):

- ``__init__``: takes the curriculum sampler, ``TrainConfig`` and :class:`~selfif.rl.reward.CompletionLimits`
  on top of TRL's arguments, passes the rest through, then picks the rollout engine and checks that
  the completion limits agree with the ones TRL derived (``eos_token_ids``, pad id, ``max_completion_length``).
- ``_get_train_sampler``: returns our :class:`~selfif.rl.sampler.CurriculumSampler` (same index
  structure as TRL's ``RepeatSampler``; the schedule picks the prompts).
- ``_calculate_rewards``: feeds each round's rewards (gathered over processes, so every rank's
  schedule stays identical) back to the schedule, logs reward per curriculum level and the active
  level, and times the reward.
- ``_generate``: timed (``log_history`` splits a step into generation, reward and the rest, the
  policy update); logs the greedy members' looping share (``train.greedy_member``,
  :mod:`selfif.rl.greedy`) and the on-policy pass rates, and with ``train.guidance: repair`` swaps
  code-repaired completions into groups with no signal (:mod:`selfif.rl.guidance`).
- ``_generate_and_score_completions``: hands ``_generate`` the rows being scored (TRL passes it
  only the prompts) and clips the guided completions' advantages.
- ``_generate_single_turn``: generates the rollouts with OpenVINO holding the policy's current
  weights (``train.rollout_backend``, :mod:`selfif.rl.ov_rollouts`), with HF ``generate`` from a
  bf16 copy of the policy (``train.rollout_copy``, :mod:`selfif.rl.rollout_copy`), or with TRL's
  own path; with ``train.greedy_member`` each group's first completion is decoded greedily.
- ``_get_per_token_logps_and_entropies``: computes the loss's log-probabilities from the
  completion positions' logits instead of TRL's fused LM head where ``train.logprob_head`` says so
  (on a CPU by default; :mod:`selfif.rl.logprobs`).

TRL attributes read (set by TRL's ``__init__``): ``eos_token_ids``, ``_tokenizer``,
``generation_config``, ``generation_kwargs``, ``max_completion_length``, ``num_generations``,
``temperature``, ``reward_weights``, ``use_vllm``, ``_metrics``, ``_entropy_bonus_enabled``.
TRL's HF-generate path takes the model (``model_wrapped``) and the sampling settings
(``generation_config`` / ``generation_kwargs``) from attributes, not arguments, so a rollout from
the bf16 copy or a greedy rollout sets them for that one call (:func:`_attributes_set`).

Importing this module imports torch and TRL (seconds): :func:`selfif.rl.trainer.train_policy`
imports it when it builds the trainer, so ``selfif --help`` stays fast.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import gather_object
from trl import GRPOTrainer

from selfif.config import ConfigError, TrainConfig
from selfif.io import JsonlAppender
from selfif.layout import GUIDANCE_LOG  # every guided completion (selfif.rl.guidance)
from selfif.reward.function import message_text
from selfif.rl import greedy as GR
from selfif.rl import guidance as G
from selfif.rl.logprobs import completion_logps, wants_unfused
from selfif.rl.ov_rollouts import OpenVINORollouts, wants_openvino
from selfif.rl.ov_rollouts import unsupported as ov_unsupported
from selfif.rl.reward import CompletionLimits
from selfif.rl.rollout_copy import Bf16RolloutCopy, wants_rollout_copy
from selfif.rl.sampler import CurriculumSampler

log = logging.getLogger(__name__)


def completion_limits(model: str, tokenizer, max_completion_length: int) -> CompletionLimits:
    """The end ids TRL's ``GRPOTrainer`` will derive for ``model``, known before the trainer exists.

    TRL ends a completion at every EOS id the model's generation config declares, with the
    tokenizer's EOS first, and pads with the tokenizer's pad token (the EOS token when it has none).
    The generation config is read as ``from_pretrained`` reads it (``generation_config.json``, else
    ``config.json``). :class:`CurriculumGRPOTrainer` checks the result against TRL's own.
    """
    from transformers import GenerationConfig

    try:
        generation = GenerationConfig.from_pretrained(model)
    except OSError:  # no generation_config.json: transformers falls back to the model config
        generation = GenerationConfig.from_pretrained(model, config_file_name="config.json", _from_model_config=True)
    eos = generation.eos_token_id
    eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    if tokenizer.eos_token_id not in eos:
        eos = [tokenizer.eos_token_id, *eos]
    pad = tokenizer.pad_token_id if tokenizer.pad_token is not None else tokenizer.eos_token_id
    return CompletionLimits(max_tokens=max_completion_length, end_ids=(*eos, pad))


@contextmanager
def _attributes_set(obj: Any, **values: Any) -> Iterator[None]:
    """Set ``obj``'s attributes to ``values`` for one call and restore them after (for TRL code that
    reads its inputs from the trainer's attributes, not from arguments)."""
    saved = {name: getattr(obj, name) for name in values}
    for name, value in values.items():
        setattr(obj, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(obj, name, value)


@dataclass
class _Batch:
    """One ``_generate_and_score_completions`` call as ``_generate`` sees it: the rows being scored
    (TRL passes ``_generate`` only their prompts) and which of this process's completions guidance
    replaced (``None``: guidance did not run)."""

    inputs: list[dict]
    guided: list[bool] | None = None


@dataclass(frozen=True)
class _Sampling:
    """The generation settings one rollout call uses (TRL's ``generation_config`` and ``generation_kwargs``)."""

    config: Any
    kwargs: dict[str, Any]


class CurriculumGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` over the constraint curriculum; the overridden TRL methods are listed in the module docstring."""

    def __init__(self, *args, curriculum_sampler: CurriculumSampler, completion_limits: CompletionLimits,
                 selfif_train: TrainConfig | None = None, **kwargs):
        self.curriculum_sampler = curriculum_sampler
        self.selfif_train = selfif_train or TrainConfig()
        self.completion_limits = completion_limits
        self._batch: _Batch | None = None  # set only inside _generate_and_score_completions
        super().__init__(*args, **kwargs)
        trl_limits = CompletionLimits(self.max_completion_length, (*self.eos_token_ids, self._tokenizer.pad_token_id))
        if completion_limits != trl_limits:
            raise ValueError(f"the completion limits given ({completion_limits}) are not the ones TRL derived ({trl_limits}): "
                             "the reward would judge truncation differently from TRL")
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
                raise ConfigError("train.greedy_member needs HF generate or OpenVINO rollouts, not vLLM")
            local = self.args.per_device_train_batch_size * self.args.steps_per_generation
            if local % self.num_generations:
                raise ConfigError(f"train.greedy_member needs whole groups per process: {local} completions per "
                                 f"process and rollout round do not split into groups of {self.num_generations}")

    def _resolve_rollout_backend(self) -> str:
        setting = self.selfif_train.rollout_backend
        if not wants_openvino(setting, self.args.use_vllm):
            return "transformers"
        reason = ov_unsupported(self.accelerator.unwrap_model(self.model), self._tokenizer, self.generation_kwargs)
        if reason is None:
            return "openvino"
        if setting == "openvino":
            raise ConfigError(f"train.rollout_backend=openvino cannot serve this run: {reason}")
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
        batch = self._batch = _Batch(inputs)
        try:
            out = super()._generate_and_score_completions(inputs)
        finally:  # never pair a later batch's prompts with these rows
            self._batch = None
        cap = self.selfif_train.guidance_max_advantage
        if batch.guided is not None and any(batch.guided):
            mask = torch.tensor(batch.guided, device=out["advantages"].device)
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
            texts = [message_text(c, "assistant") for c in out[3]]
            self._metrics["train"]["greedy/looping"].append(GR.looping_share(texts, GR.heads(len(texts), self.num_generations)))
        if mode == "train" and self._batch is not None:
            out = self._guide(self._batch, prompts, out)
        return out

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, *args, **kwargs):
        sampling = _Sampling(self.generation_config, self.generation_kwargs)
        if not (self.greedy_member and self.model.training and images is None and not multimodal_fields):
            return self._rollouts(sampling, prompt_ids, images, multimodal_fields, *args, **kwargs)
        first = GR.heads(len(prompt_ids), self.num_generations)
        rest = [i for i in range(len(prompt_ids)) if i % self.num_generations]
        sampled_ids, sampled_lp = self._rollouts(sampling, [prompt_ids[i] for i in rest], images, multimodal_fields, *args, **kwargs)
        greedy_kwargs = GR.greedy_kwargs(sampling.kwargs)
        greedy = _Sampling(type(sampling.config)(**greedy_kwargs, disable_compile=True), greedy_kwargs)
        greedy_ids, _ = self._rollouts(greedy, [prompt_ids[i] for i in first], images, multimodal_fields, *args, **kwargs)
        ids = GR.interleave(len(prompt_ids), first, greedy_ids, sampled_ids)
        logprobs = None if sampled_lp is None else GR.interleave(len(prompt_ids), first, [None] * len(first), sampled_lp)
        return ids, logprobs

    def _rollouts(self, sampling: _Sampling, prompt_ids, images, multimodal_fields, *args, **kwargs):
        """Completions for ``prompt_ids`` from the configured engine with the ``sampling`` settings."""
        if self.rollout_backend == "openvino" and images is None and not multimodal_fields:
            return self._openvino_rollouts(prompt_ids, sampling.kwargs), None
        model = self.model_wrapped
        if self.wants_rollout_copy:
            policy = self.accelerator.unwrap_model(self.model)
            if self.rollout_copy is None:
                self.rollout_copy = Bf16RolloutCopy(policy)
            self.rollout_copy.sync(policy, self.state.global_step)
            model = self.rollout_copy.model
        # TRL's HF-generate path reads the model and the sampling settings from these attributes
        with _attributes_set(self, model_wrapped=model, generation_config=sampling.config, generation_kwargs=sampling.kwargs):
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields, *args, **kwargs)

    def _openvino_rollouts(self, prompt_ids, generation_kwargs: dict[str, Any]):
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
        return self.ov_rollouts.generate(prompt_ids, generation_kwargs, seed)

    def _guide(self, batch: _Batch, prompts, out):
        """Log on-policy pass rates; with ``guidance: repair`` swap in repaired completions (selfif.rl.guidance).

        Returns ``_generate``'s tuple with the swapped completions and records which of this
        process's completions were swapped in ``batch.guided``.
        """
        prompt_ids, completion_ids, tool_mask, completions, logprobs, extra, images, tool_images = out
        cfg = self.selfif_train
        limits = self.completion_limits
        local = [
            G.Rollout(x["constraints"], message_text(p, "user"), message_text(c, "assistant"), limits.truncated(ids))
            for x, p, c, ids in zip(batch.inputs, prompts, completions, completion_ids, strict=True)
        ]
        rollouts = gather_object(local)
        step = self.state.global_step

        def encode(text: str):
            ids = self._tokenizer.encode(text, add_special_tokens=False)
            if len(ids) + 1 > limits.max_tokens:
                return None
            return [*ids, limits.end_ids[0]], self._tokenizer.decode(ids, skip_special_tokens=True)

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
        batch.guided = [False] * len(prompts)
        for gi, g in guided.items():
            i = gi - offset
            if not 0 <= i < len(prompts):
                continue
            batch.guided[i] = True
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
