"""Pipeline configuration: YAML presets validated by pydantic, unknown keys rejected.

A preset (``configs/*.yaml``) holds one section per stage. Every section model forbids unknown
keys, so a typo fails loudly with the key's path instead of silently using a default. CLI flags
override values with dotted ``key=value`` pairs (``--set train.learning_rate=1e-5``), parsed as YAML
scalars. Every field carries its description and bounds: ``selfif config --explain`` prints them.
"""

from __future__ import annotations

import hashlib
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from selfif.io import InputError, file_digest
from selfif.yamlio import load_yaml, read_yaml

# The public dataset id. When the hub cannot supply it, the official input_data.jsonl packaged with
# selfif is read instead (selfif.eval.benchmark.PACKAGED_IFEVAL), so the default works offline.
DEFAULT_BENCHMARK = "google/IFEval"


def _is_number(annotation: Any) -> bool:
    """``int``, ``float`` or either of them ``| None``."""
    args = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else (annotation,)
    return any(a in (int, float) for a in args) and all(a in (int, float, type(None)) for a in args)


def _finite(value: Any) -> bool:
    """No inf or nan anywhere in ``value`` (a pass-through value that JSON could not hold)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(x) for x in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite(x) for x in value)
    return True


class Section(BaseModel):
    """A config section: unknown keys are errors, so a typo names itself instead of using a default.

    Numbers are finite (``.inf`` or ``nan`` as a temperature or learning rate is a mistake, and would
    end as invalid JSON in ``config.json``), and a boolean is not a number (pydantic would take
    ``max_steps: true`` as 1). Every section and the CLI flags (``clikit.with_flags``) share these rules.
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)

    replaced_keys: ClassVar[dict[str, str]] = {}
    """Keys a section no longer takes -> the key (and value) to write instead."""

    @model_validator(mode="before")
    @classmethod
    def _no_replaced_keys(cls, data: Any) -> Any:
        """An old preset's key fails naming its successor, not as an unknown key."""
        old = [k for k in cls.replaced_keys if isinstance(data, dict) and k in data]
        if old:
            raise PydanticCustomError("replaced_key", f"{old[0]} was replaced by {cls.replaced_keys[old[0]]}",
                                      {"fields": (old[0],)})
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _bool_is_not_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        annotation = cls.model_fields[info.field_name].annotation if info.field_name else None
        if isinstance(value, bool) and _is_number(annotation):
            raise PydanticCustomError("bool_not_number", f"expected a number, got {str(value).lower()}")
        if annotation is bool and not isinstance(value, bool):  # nor is a number a boolean (pydantic takes 1 as true)
            raise PydanticCustomError("bool_type", "expected true or false")
        return value


def _contradiction(message: str, *fields: str) -> PydanticCustomError:
    """A validation error for settings that contradict each other; ``fields`` (their names in the
    section) let :func:`load_config` name where each of them was set."""
    return PydanticCustomError("contradiction", message, {"fields": fields})


class GenerationConfig(Section):
    """Decoding settings shared by labelling and evaluation."""

    # --- decoding ---
    max_new_tokens: int = Field(256, ge=1, description="longest response, in new tokens")
    temperature: float = Field(0.7, ge=0, description="sampling temperature; 0 = greedy")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling mass")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="sampling seed (every engine takes it, offsets added on resume)")
    # --- runtime and precision ---
    backend: Literal["auto", "transformers", "openvino", "ctranslate2", "vllm"] = Field(
        "auto", description="generation engine; auto = vLLM when installed and a GPU is present, else openvino on a "
        "CPU for Llama-architecture models (same greedy text as transformers at fp32, several times faster: "
        "benchmarks/generation.py), else transformers (the reference); ctranslate2 (CPU, fp32) measured slower here")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto = bf16 where the CPU has native bf16 matmul (or on CUDA), else fp32; bf16 loads "
        "the policy in bf16 (transformers, vllm) or runs the engine at bf16 (openvino); ctranslate2 always computes "
        "in fp32. The resolved value is recorded")
    batch_size: int = Field(8, ge=1, description="prompts generated together (per call to the engine)")


class SeedsConfig(Section):
    """Seed instructions: source, filters, decontamination, sample size."""

    # --- source ---
    source: str = Field("sharegpt", description="sharegpt (packaged, offline) | JSONL/CSV/JSON path | Hugging Face dataset id")
    column: str | None = Field(None, description="prompt column for JSONL/CSV/HF sources (None: first of prompt/text/instruction)")
    # --- filters ---
    min_chars: int = Field(20, ge=0, description="shortest seed kept, in characters")
    max_chars: int = Field(300, ge=1, description="longest seed kept, in characters")
    dedup_threshold: float = Field(0.7, gt=0, le=1, description="drop near-duplicates at this word 3-gram Jaccard similarity")
    # --- decontamination ---
    decontaminate: list[str] | None = Field(
        None, description="benchmarks (JSONL files or HF dataset ids) whose prompts must not leak into the seeds; "
        "None: the evaluation benchmark (eval.benchmark), which the pipeline always adds anyway")
    ngram: int = Field(8, ge=1, description="word n-gram size of the contamination check")
    contamination_threshold: float = Field(
        0.5, gt=0, le=1, description="drop a seed when this share of its n-grams occurs in one benchmark prompt")
    # --- the sample kept ---
    n: int = Field(3000, ge=1, description="seeds to keep (a nested, seeded sample of the survivors)")
    seed: int = Field(0, description="sampling seed (the kept set is nested across n)")

    @model_validator(mode="after")
    def _length_range(self) -> "SeedsConfig":
        if self.min_chars > self.max_chars:
            raise _contradiction(f"min_chars ({self.min_chars}) is above max_chars ({self.max_chars}): no seed could be kept",
                                 "min_chars", "max_chars")
        return self


class HeldoutConfig(Section):
    """A leave-types-out split (selfif.data.synth): hard types that training never sees, and
    prompts that ask for them, to tell a policy that learned to follow instructions from one that
    learned the listed formats."""

    types: list[str] = Field(
        [], description="hard type ids left out of training: never drawn for curriculum.jsonl (so never labelled, "
        "rewarded or warm-started); heldout.jsonl asks for them and `selfif run` evaluates it before and after "
        "training (empty: no split)")
    seeds: int = Field(
        120, ge=1, description="seeds set aside for heldout.jsonl (a seeded sample, never in the curriculum), one "
        "prompt each")
    constraints: int = Field(1, ge=1, le=5, description="held-out constraints per held-out prompt (at most; fewer when "
                             "the types conflict)")


class ControlSetConfig(Section):
    """The constraint-free control set (selfif.eval.control): seed prompts set aside from training
    and answered as they are, to check that instruction-following training keeps the ordinary
    answers (length, loops, unasked formats, relevance) and does not trade them for format tricks."""

    seeds: int = Field(
        0, ge=0, description="seeds set aside for control_seeds.jsonl (a seeded sample of the decontaminated seeds, "
        "disjoint from the held-out split, never in the curriculum); `selfif run` answers them before and after "
        "training and pairs the answer-quality metrics (0: no control set)")


class SynthConfig(Section):
    """Instruction synthesis: constraint chains and the curriculum levels."""

    levels: int = Field(5, ge=1, le=10, description="constraints per chain: levels L1..L<levels> (L0 = the bare seed)")
    hard_ratio: float = Field(0.4, ge=0, le=1, description="probability that a constraint is hard (code-verifiable)")
    hard_types: list[str] | None = Field(None, description="restrict hard constraints to these type ids (None: all)")
    soft_types: list[str] | None = Field(None, description="restrict soft constraints to these type ids (None: all)")
    heldout: HeldoutConfig = Field(default_factory=HeldoutConfig, description="leave-types-out split (HeldoutConfig)")
    control: ControlSetConfig = Field(default_factory=ControlSetConfig, description="constraint-free control set (ControlSetConfig)")
    seed: int = Field(0, description="sampling seed")

    @model_validator(mode="after")
    def _kinds_can_be_drawn(self) -> "SynthConfig":
        """An empty type list with a ratio that asks for that kind would silently draw the other
        kind instead (synth falls back to it), so the curriculum would not be the one configured."""
        if self.hard_types == [] and self.hard_ratio > 0:
            raise _contradiction(f"hard_types is empty but hard_ratio is {self.hard_ratio}: no hard constraint can be "
                                 "drawn (set hard_ratio=0, or name hard types)", "hard_types", "hard_ratio")
        if self.soft_types == [] and self.hard_ratio < 1:
            raise _contradiction(f"soft_types is empty but hard_ratio is {self.hard_ratio}: no soft constraint can be "
                                 "drawn (set hard_ratio=1, or name soft types)", "soft_types", "hard_ratio")
        return self


class LabelConfig(Section):
    """Pseudo-labelling: the policy answers each level; contrasts between levels become pairs."""

    model: str | None = Field(None, description="model that answers the curriculum (None: the pipeline's policy)")
    generation: GenerationConfig = Field(default_factory=GenerationConfig, description="decoding of the responses")
    hard_labels: Literal["contrast", "verifier"] = Field(
        "contrast", description="labels of hard constraints: contrast (the paper: L_k answer positive, L_k-1 negative) "
        "or verifier (the checker's verdict)")
    repair_positives: bool = Field(
        False, description="also add, per hard constraint, the L_k-1 response repaired by code for it as a positive "
        "(source: repair in pairs.jsonl; docs/constraints.md)")


class RMConfig(Section):
    """The constraint-wise binary reward model (bounds are the ones `selfif train-rm` enforces)."""

    # --- model and data ---
    backbone: str = Field("minilm-l6", description="encoder: minilm-l6 | smollm2-135m | HF id | directory")
    include_instruction: bool = Field(False, description="also show the instruction to the RM (the paper does not)")
    max_length: int = Field(384, ge=16, description="tokens of (constraint, response) seen by the RM; longer is cut")
    min_audit_accuracy: float = Field(
        0.0, ge=0, le=1, description="with an audit.json: drop pair types whose pseudo-label accuracy is below this "
        "(0 = keep all; `selfif train-rm` uses the same default)")
    val_fraction: float = Field(0.2, ge=0, le=0.9, description="share of seeds held out for validation (split by seed)")
    # --- optimisation ---
    lr: float = Field(5e-5, gt=0, description="AdamW learning rate")
    epochs: int = Field(3, ge=1, description="passes over the training pairs (early stopping may end sooner)")
    batch_size: int = Field(16, ge=1, description="pairs per update")
    patience: int = Field(2, ge=1, description="early stopping: epochs without val-loss improvement")
    seed: int = Field(0, description="split and shuffling seed")
    # --- runtime and precision ---
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto = bf16 autocast where the CPU has native bf16 matmul (or on CUDA), else fp32; "
        "weights and optimizer state stay fp32")


class RewardConfig(Section):
    """How a response is rewarded: verifier for hard constraints, RM probability for soft ones."""

    rm_for_hard: bool = Field(False, description="score hard constraints with the RM too, not the verifier (ablation)")
    binary: bool = Field(False, description="round RM probabilities to 0/1 at 0.5")
    loose: bool = Field(False, description="verify hard constraints in IFEval's loose mode")
    graded_hard: bool = Field(False, description="partial credit for hard types that define a graded score")
    rm_url: str | None = Field(None, description="score soft constraints through a running `selfif serve-rm` at this URL")


class WarmstartConfig(Section):
    """Repair-then-supervise warm-start before GRPO (selfif.rl.warmstart): the policy answers
    curriculum prompts, code repairs the answers (``registry.repair_chain``), and the policy is
    fine-tuned on the repaired answers (rejection sampling where code repairs instead of discarding)."""

    # --- model and data: which curriculum rows ---
    enabled: bool = Field(False, description="run the warm-start before GRPO")
    n_prompts: int = Field(384, ge=1, description="curriculum rows (levels >= 1, with a repairable hard constraint) the policy answers")
    types: list[str] | Literal["auto"] = Field(
        [], description="draw only rows with a hard constraint of these type ids (empty: any); auto = the types the "
        "policy (almost) never follows on its own curriculum answers: asked pass rate below auto_threshold in the "
        "label stage's audit (label/audit.json next to the curriculum), read once per warm-start")
    auto_threshold: float = Field(
        0.06, gt=0, le=1, description="types: auto picks the types whose audited asked pass rate is below this")
    auto_min_answers: int = Field(
        10, ge=1, description="types: auto judges only types with at least this many asked answers in the audit")
    # --- generation: the answers code repairs ---
    samples_per_prompt: int = Field(1, ge=1, description="answers sampled per prompt")
    answer_batch_size: int = Field(8, ge=1, description="prompts answered per generate call (larger on a GPU)")
    max_new_tokens: int = Field(160, ge=1, description="answer length cap; answers cut by it are dropped (see keep_truncated)")
    keep_truncated: bool = Field(
        False, description="keep an answer cut by the cap when none of its hard constraints depends on the end "
        "(selfif.rl.truncation): it is repaired and trained as a prefix, without EOS (so it teaches no early stop)")
    temperature: float = Field(0.7, ge=0, description="sampling temperature of the answers (0 = greedy)")
    # --- optimisation ---
    epochs: int = Field(2, ge=1, description="passes over the repaired answers")
    learning_rate: float = Field(1e-5, gt=0, description="AdamW learning rate of the supervised step")
    batch_size: int = Field(8, ge=1, description="repaired answers per optimizer update")
    seed: int = Field(0, description="sampling and shuffling seed")
    # --- validation: did it learn the constraints or its prompts ---
    validation_seeds: float = Field(
        0.0, ge=0, lt=1, description="share of the curriculum's seeds whose prompts the warm-start never sees; after "
        "fine-tuning, the policy answers up to validation_prompts of them and as many prompts it trained on (greedy), "
        "and the summary reports both pass rates: a large gap means it learned its prompts, not the constraints (0: off)")
    validation_prompts: int = Field(48, ge=1, description="at most this many prompts in each validation set")


# The trl.GRPOConfig fields selfif sets from a TrainConfig field of its own (GRPOConfig name -> field).
# selfif.rl.trainer.build_grpo_config builds the GRPOConfig from this table; grpo_args may not name them.
GRPO_NAMED: dict[str, str] = {
    name: name for name in (
        "num_generations", "max_completion_length", "temperature", "top_p", "use_vllm", "vllm_mode",
        "vllm_gpu_memory_utilization", "vllm_tensor_parallel_size", "vllm_server_host", "vllm_server_port",
        "max_steps", "learning_rate", "lr_scheduler_type", "warmup_steps", "weight_decay", "max_grad_norm",
        "per_device_train_batch_size", "gradient_accumulation_steps", "steps_per_generation", "num_iterations",
        "beta", "scale_rewards", "logging_steps", "report_to", "save_steps", "save_total_limit",
        "gradient_checkpointing", "seed")
} | {"data_seed": "seed", "bf16": "precision"}

# The trl.GRPOConfig fields the training stage fixes, because it depends on their value -> why.
GRPO_FIXED: dict[str, str] = {
    "output_dir": "it is the stage's --out",
    "save_strategy": "checkpoints are written every train.save_steps steps",
    "remove_unused_columns": "the reward reads the constraints, level and row columns",
    "ignore_data_skip": "the curriculum sampler restores its own position on resume",
    "save_only_model": "resuming needs the optimizer, scheduler and RNG states",
    "use_cpu": "it follows train.precision on a CPU",
}


class TrainConfig(Section):
    """GRPO with TRL (``trl.GRPOConfig``), its fields grouped by purpose as GRPOConfig groups its own.

    Each TRL setting has one route. A setting selfif uses is a named field here (:data:`GRPO_NAMED`):
    documented and bounded (``selfif config --explain``), and read by selfif as well as by TRL
    (``selfif train --dry-run`` checks that the batch splits into groups of num_generations and prints
    the launch and vLLM commands from use_vllm and the vllm_* fields; the warm-start trains at
    precision), so a second value in ``grpo_args`` would have selfif check and print one value while
    TRL trains with another. ``grpo_args`` passes the GRPOConfig options selfif does not name
    (``loss_type``, ``epsilon``, ...); naming a field of :data:`GRPO_NAMED` or :data:`GRPO_FIXED`
    there is an error that says what to set instead.
    """

    replaced_keys: ClassVar[dict[str, str]] = {
        "bf16": "precision: write precision: bf16 for bf16: true, and drop bf16: false (it meant precision's default, auto)"}

    # --- model and data ---
    model: str | None = Field(None, description="policy to train (None: the pipeline's model)")
    max_prompt_length: int = Field(
        512, ge=1, description="longest prompt, in tokens; longer curriculum prompts are dropped (cutting them would cut "
        "constraints off)")
    # --- generation: the rollouts ---
    num_generations: int = Field(8, ge=2, description="completions per prompt (the GRPO group size)")
    max_completion_length: int = Field(96, ge=1, description="longest completion, in tokens")
    temperature: float = Field(1.0, gt=0, description="rollout sampling temperature")
    top_p: float = Field(1.0, gt=0, le=1, description="rollout nucleus sampling mass")
    greedy_member: bool = Field(
        False, description="decode one completion of every group greedily, the others sampled: IFEval is scored on "
        "greedy answers, which loop far more often than samples at temperature 1 (selfif.rl.greedy; HF generate "
        "or OpenVINO rollouts, not vLLM)")
    rollout_backend: Literal["auto", "transformers", "openvino"] = Field(
        "auto", description="what generates GRPO rollouts on a CPU: openvino = OpenVINO GenAI holding the policy's "
        "current weights, handed over in memory after each optimizer step (selfif.rl.ov_rollouts; faster at long "
        "rollout rounds, its learning not yet measured); transformers = HF generate (with train.rollout_copy); "
        "auto = transformers for now")
    rollout_copy: Literal["auto", "off", "bf16"] = Field(
        "auto", description="rollouts when training in bf16: bf16 = generate from a bf16 copy of the policy, refreshed "
        "after each optimizer step (under autocast every weight is re-cast at every generated token; "
        "benchmarks/grpo_step.py measures both); off = generate from the training model under autocast; auto = bf16 "
        "on a CPU training in bf16, off elsewhere (fp32, GPUs, vLLM). Costs one bf16 copy of the weights in memory")
    use_vllm: bool = Field(False, description="generate rollouts with vLLM (GPU)")
    vllm_mode: Literal["colocate", "server"] = Field(
        "colocate", description="vLLM inside the training process, or a separate `trl vllm-serve`")
    vllm_gpu_memory_utilization: float = Field(0.3, gt=0, le=1, description="colocated vLLM: share of GPU memory it takes")
    vllm_tensor_parallel_size: int = Field(1, ge=1, description="colocated vLLM: tensor-parallel GPUs")
    vllm_server_host: str = Field("127.0.0.1", description="server mode: host of `trl vllm-serve`")
    vllm_server_port: int = Field(8000, ge=1, le=65535, description="server mode: port of `trl vllm-serve`")
    # --- optimisation ---
    max_steps: int = Field(20, ge=1, description="GRPO optimizer steps")
    learning_rate: float = Field(1e-5, gt=0, description="AdamW learning rate (the paper: 1e-6, constant)")
    lr_scheduler_type: str = Field("constant", description="transformers scheduler name (the paper: constant, no warmup)")
    warmup_steps: int = Field(0, ge=0, description="learning-rate warmup steps")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping norm")
    per_device_train_batch_size: int = Field(8, ge=1, description="completions per device per micro-batch (TRL counts completions)")
    gradient_accumulation_steps: int = Field(1, ge=1, description="micro-batches per optimizer step")
    steps_per_generation: int | None = Field(
        None, ge=1, description="optimizer steps per rollout round (None: gradient_accumulation_steps, TRL's default)")
    num_iterations: int = Field(1, ge=1, description="GRPO updates per generation batch")
    beta: float = Field(0.0, ge=0, description="KL coefficient; 0 loads no reference model (the paper)")
    scale_rewards: Literal["group", "batch", "none"] = Field(
        "group", description="advantage normalisation: by the group's std, the batch's, or none")
    # --- reward shaping ---
    looping_fails: bool = Field(
        False, description="a completion that ends in a repetition loop (selfif.repetition) scores 0 on every "
        "constraint")
    truncated_fails_end_constraints: bool = Field(
        False, description="a completion cut by max_completion_length scores 0 on end-dependent constraints "
        "(selfif.rl.truncation)")
    # --- curriculum and guided exploration (docs/repairs.md; selfif.rl.guidance) ---
    schedule: Literal["ordered", "mixed", "adaptive"] = Field(
        "ordered", description="curriculum: ordered (L1, L2, ... in stages), mixed (all levels), adaptive (weight p(1-p))")
    level_steps: int = Field(10, ge=1, description="ordered: rollout rounds per level before advancing")
    advance_threshold: float | None = Field(
        None, ge=0, le=1, description="ordered: advance early once the level's mean reward passes this (None: never)")
    adaptive_epsilon: float = Field(0.05, gt=0, description="adaptive: level weight = p(1-p) + epsilon")
    guidance: Literal["none", "repair"] = Field(
        "none", description="repair: in a group where no completion satisfies a repairable hard constraint, replace "
        "completions with code-repaired ones (guided GRPO)")
    guidance_per_group: int = Field(1, ge=1, description="at most this many completions per triggered group are replaced")
    guidance_decay_steps: int | None = Field(
        None, ge=1, description="steps over which the guided share falls linearly to 0 (None: no decay)")
    guidance_max_advantage: float | None = Field(
        1.0, gt=0, description="clip a guided completion's advantage to this (bounds the push of an off-policy "
        "sample; None: no clip)")
    # --- warm-start ---
    warmstart: WarmstartConfig = Field(default_factory=WarmstartConfig, description="supervised warm-start on repaired answers")
    # --- logging and checkpoints ---
    logging_steps: int = Field(1, ge=1, description="log metrics every N steps")
    report_to: list[str] = Field(
        default_factory=lambda: ["tensorboard"], description="logging integrations; missing packages are skipped with a warning")
    save_steps: int = Field(5, ge=1, description="write a resumable checkpoint every N steps")
    save_total_limit: int | None = Field(2, ge=1, description="checkpoints kept (None: all)")
    # --- runtime and precision ---
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="bf16 = bf16 autocast in the trainer (TRL's bf16; set it for GPU training); auto = bf16 "
        "where the CPU has native bf16 matmul, else fp32, and fp32 on CUDA; weights and optimizer state stay fp32 "
        "either way")
    logprob_head: Literal["auto", "fused", "unfused"] = Field(
        "auto", description="how the loss's log-probabilities are computed: fused = TRL's tiled LM head (no full "
        "logits; on a CPU its torch fallback scores the prompt too and keeps the head in fp32); unfused = logits "
        "for the completion positions only, under autocast (selfif.rl.logprobs; costs rows x completion tokens x "
        "vocabulary x 6 bytes); auto = unfused on a CPU, fused elsewhere")
    gradient_checkpointing: bool = Field(False, description="saves GPU memory on big models; slower on CPU")
    accelerate_config: str | None = Field(
        None, description="multi-GPU launch config (`selfif train --dry-run` prints the command)")
    seed: int = Field(0, description="trainer and curriculum seed")
    grpo_args: dict[str, Any] = Field(
        default_factory=dict, description="trl.GRPOConfig options selfif does not name, passed through (checked "
        "against trl.GRPOConfig when the config loads; a field named here, or fixed by the stage, is refused)")

    @field_validator("grpo_args")
    @classmethod
    def _known_grpo_args(cls, v: dict[str, Any]) -> dict[str, Any]:
        """A typo in a pass-through key fails at load time, not after the model has loaded; an
        inf or nan (which the named fields refuse, and config.json could not hold) too; and so does
        a second route to a setting that has one already (see the class docstring)."""
        bad = sorted(str(k) for k, x in v.items() if not _finite(x))
        if bad:
            raise ValueError(f"{', '.join(bad)}: expected finite numbers (no inf or nan)")
        named = [f"{k}: set train.{GRPO_NAMED[k]} instead" for k in sorted(v) if k in GRPO_NAMED]
        fixed = [f"{k}: fixed by selfif ({GRPO_FIXED[k]})" for k in sorted(v) if k in GRPO_FIXED]
        if named or fixed:
            raise ValueError("; ".join(named + fixed))
        if v:
            from dataclasses import fields

            from trl import GRPOConfig  # only when there is something to check: trl is a slow import

            known = {f.name for f in fields(GRPOConfig)}
            unknown = sorted(set(v) - known)
            if unknown:
                raise ValueError(f"not trl.GRPOConfig fields: {', '.join(unknown)}")
        return v


class EvalGenerationConfig(GenerationConfig):
    """Decoding for IFEval. Its own defaults, field by field, so a preset that sets one field (say
    ``max_new_tokens``) keeps the others: greedy, 512 new tokens (the usual IFEval setting) and fp32,
    because bf16 changed half of the greedy answers in benchmarks/generation.py, so scores would move
    by more than noise."""

    precision: Literal["auto", "fp32", "bf16"] = Field(
        "fp32", description="fp32 by default for evaluation (see the class docstring); auto/bf16 as in generation")
    max_new_tokens: int = Field(512, ge=1, description="longest response, in new tokens")
    batch_size: int = Field(16, ge=1, description="prompts generated together (per call to the engine)")
    temperature: float = Field(0.0, ge=0, description="sampling temperature; 0 = greedy")


class EvalConfig(Section):
    """IFEval evaluation before and after training."""

    benchmark: str = Field(
        DEFAULT_BENCHMARK, description="IFEval: a Hugging Face dataset id (google/IFEval falls back to its packaged copy offline), "
        "or a local file in the official input_data.jsonl format")
    limit: int | None = Field(None, ge=1, description="evaluate the first N prompts only (None: all)")
    instruction_types: list[str] = Field(
        default_factory=list, description="keep only benchmark rows asking for one of these instruction ids, before "
        "`limit` (empty: all rows); for a run that teaches a few formats and is evaluated on the prompts that ask for them")
    generation: EvalGenerationConfig = Field(
        default_factory=EvalGenerationConfig, description="decoding for IFEval (see EvalGenerationConfig)")


class PipelineConfig(Section):
    """A whole preset (``configs/*.yaml``): the policy, the run directory, one section per stage."""

    run_dir: str = Field("runs/demo", description="where every stage writes (layout: selfif.layout)")
    model: str = Field("smollm2-135m", description="the policy: alias, local directory or Hugging Face id")
    seeds: SeedsConfig = Field(default_factory=SeedsConfig, description="selfif seeds")
    synth: SynthConfig = Field(default_factory=SynthConfig, description="selfif synth")
    label: LabelConfig = Field(default_factory=LabelConfig, description="selfif label")
    rm: RMConfig = Field(default_factory=RMConfig, description="selfif train-rm")
    reward: RewardConfig = Field(default_factory=RewardConfig, description="the GRPO reward (selfif train)")
    train: TrainConfig = Field(default_factory=TrainConfig, description="selfif train (GRPO)")
    eval: EvalConfig = Field(default_factory=EvalConfig, description="selfif eval ifeval (before and after training)")

    def section_hash(self, *names: str, files_by_content: bool = True) -> str:
        """Stable hash of some sections (for the pipeline manifest: rerun a stage only if it changed).

        With ``files_by_content`` a value naming an existing file counts by the file's bytes, not
        its spelling (``../shared/x.jsonl`` and ``/work/shared/x.jsonl`` are the same input, and an
        edited file is a changed one), and fields left at their defaults are not hashed (a field
        added in a new release does not make earlier runs stale). ``False`` gives the hash that
        manifests recorded before that.
        """
        data = {n: getattr(self, n).model_dump(mode="json", exclude_defaults=files_by_content)
                if isinstance(getattr(self, n), BaseModel) else getattr(self, n) for n in names}
        if files_by_content:
            data = _files_by_content(data)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


_FILE_DIGESTS: dict[tuple[str, int, int], str] = {}  # (resolved path, size, mtime) -> digest: a big file is read once


def _file_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _FILE_DIGESTS:
        _FILE_DIGESTS[key] = file_digest(path)
    return _FILE_DIGESTS[key]


def _files_by_content(value: Any) -> Any:
    """``value`` with every string that names an existing file replaced by the file's sha256."""
    if isinstance(value, dict):
        return {k: _files_by_content(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_files_by_content(v) for v in value]
    if isinstance(value, str) and value and "\n" not in value and len(value) < 4096:
        try:
            path = Path(value).expanduser()
            if path.is_file():
                return {"file_sha256": _file_sha256(path)}
        except OSError:
            pass
    return value


class ConfigError(ValueError):
    """A preset or override that does not validate; one line that names where the value came from
    (``FILE:LINE`` of the preset, or the ``--set`` override) and the key."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # one line: the CLI prints it as the last one


Sources = dict[tuple[Any, ...], str]
"""Where each value that is not a default came from: key path -> ``FILE:LINE`` or ``--set KEY=VALUE``."""


def _override_label(item: str) -> str:
    return f"--set {item if len(item) <= 80 else item[:77] + '...'}"


def apply_overrides(data: dict[str, Any], overrides: list[str], sources: Sources | None = None) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (value parsed as YAML, by the same strict reader as presets)
    to a nested dict, in place; ``sources`` (if given) records each override as the value's origin."""
    for item in overrides:
        label = _override_label(item)
        if "=" not in item:
            raise ConfigError(f"{label}: expected KEY=VALUE, e.g. train.learning_rate=1e-5")
        key, raw = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{label}: {p!r} is not a section")
        try:
            node[parts[-1]], _ = load_yaml(raw, label)
        except InputError as e:  # the value is one line: its line number would say nothing
            raise ConfigError(f"{label}: {e.message}") from None
        if sources is not None:
            path = tuple(parts)
            for loc in [loc for loc in sources if loc[:len(path)] == path]:
                del sources[loc]  # the file's value (and anything under it) is replaced
            sources[path] = label
    return data


def _where(loc: tuple[Any, ...], sources: Sources) -> str | None:
    """The origin of the value at ``loc``: its own, else that of the nearest enclosing key."""
    for i in range(len(loc), 0, -1):
        if loc[:i] in sources:
            return sources[loc[:i]]
    return None


def _error_line(err: Any, sources: Sources, fallback: str) -> str:
    """One validation error as ``ORIGIN: key.path: reason``; a contradiction names the origin of
    each field involved (a field left at its default has none)."""
    loc = tuple(err["loc"])
    fields = (err.get("ctx") or {}).get("fields")
    origins = [_where(loc + (f,), sources) for f in fields] if fields else [_where(loc, sources)]
    where = ", ".join(dict.fromkeys(o for o in origins if o)) or _where(loc, sources) or fallback
    msg = err["msg"].removeprefix("Value error, ")
    return f"{where}: {'.'.join(map(str, loc)) or '(config)'}: {msg}"


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> PipelineConfig:
    """Load a YAML preset (or defaults when ``path`` is None), apply overrides, validate.

    Every failure is a :class:`ConfigError` of one line naming its origin: ``FILE:LINE`` for a
    preset's value, ``--set KEY=VALUE`` for an override.
    """
    data: dict[str, Any] = {}
    sources: Sources = {}
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"{p}: config file does not exist")
        try:
            data, lines = read_yaml(p, max_bytes=1 << 20)  # presets are a few kB; YAML parsing is slow
        except InputError as e:  # invalid YAML, an alias, a duplicate key (file:line), not UTF-8, a directory, too big
            raise ConfigError(str(e)) from None
        if data is None:  # an empty (e.g. truncated) preset must not silently mean "all defaults"
            raise ConfigError(f"{p}: config file is empty")
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: expected a mapping at top level")
        sources = {loc: f"{p}:{line}" for loc, line in lines.items()}
    apply_overrides(data, overrides or [], sources)
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as e:
        fallback = str(path) if path is not None else "config"
        raise ConfigError("; ".join(_error_line(err, sources, fallback) for err in e.errors())) from None
