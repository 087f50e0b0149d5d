"""Pipeline configuration: YAML presets validated by pydantic, unknown keys rejected.

A preset (``configs/*.yaml``) holds one section per stage. Every section model forbids unknown
keys, so a typo fails loudly with the key's path instead of silently using a default. CLI flags
override values with dotted ``key=value`` pairs (``--set train.lr=1e-5``), parsed as YAML scalars.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_BENCHMARK = "../shared/benchmarks/ifeval_input_data.jsonl"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class GenerationConfig(Section):
    """Decoding settings shared by labelling and evaluation."""

    backend: Literal["auto", "transformers", "vllm"] = "auto"
    max_new_tokens: int = Field(256, ge=1)
    batch_size: int = Field(8, ge=1)
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int = 0


class SeedsConfig(Section):
    source: str = "sharegpt"  # "sharegpt" | JSONL/CSV path | Hugging Face dataset id
    column: str | None = None  # prompt column for JSONL/CSV/HF sources
    n: int = Field(3000, ge=1)
    min_chars: int = 20
    max_chars: int = 300
    decontaminate: list[str] = Field(default_factory=lambda: [DEFAULT_BENCHMARK])
    ngram: int = 8
    contamination_threshold: float = 0.5
    dedup_threshold: float = 0.7
    seed: int = 0


class SynthConfig(Section):
    levels: int = Field(5, ge=1, le=10)
    hard_ratio: float = Field(0.4, ge=0, le=1)
    hard_types: list[str] | None = None  # restrict to these ids (None = all)
    soft_types: list[str] | None = None
    seed: int = 0


class LabelConfig(Section):
    model: str | None = None  # None: the pipeline's policy
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    hard_labels: Literal["contrast", "verifier"] = "contrast"


class RMConfig(Section):
    backbone: str = "minilm-l6"
    include_instruction: bool = False
    max_length: int = 384
    lr: float = 5e-5
    epochs: int = 3
    batch_size: int = 16
    val_fraction: float = 0.2
    patience: int = 2
    min_audit_accuracy: float = 0.0  # drop pair types whose pseudo-label audit is below this
    seed: int = 0


class RewardConfig(Section):
    rm_for_hard: bool = False
    binary: bool = False
    loose: bool = False
    graded_hard: bool = False
    rm_url: str | None = None  # score soft constraints through a running `selfif serve-rm`


class TrainConfig(Section):
    model: str | None = None
    schedule: Literal["ordered", "mixed", "adaptive"] = "ordered"
    level_steps: int = 10  # ordered: steps per level before advancing
    advance_threshold: float | None = None  # ordered: advance early when level mean reward passes this
    max_steps: int = 20
    learning_rate: float = 1e-5
    weight_decay: float = 0.01
    num_generations: int = 8
    per_device_train_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    max_prompt_length: int = 512
    max_completion_length: int = 96
    temperature: float = 1.0
    beta: float = 0.0
    save_steps: int = 5
    logging_steps: int = 1
    use_vllm: bool = False
    vllm_mode: Literal["colocate", "server"] = "colocate"
    report_to: list[str] = Field(default_factory=lambda: ["tensorboard"])
    bf16: bool = False
    seed: int = 0
    # --- added by the RL stage (selfif.rl) ---
    adaptive_epsilon: float = Field(0.05, gt=0)  # adaptive: weight = p(1-p) + epsilon
    top_p: float = Field(1.0, gt=0, le=1)
    lr_scheduler_type: str = "constant"  # paper: fixed lr, no warmup
    warmup_steps: int = Field(0, ge=0)
    max_grad_norm: float = 1.0
    num_iterations: int = Field(1, ge=1)  # GRPO updates per generation batch
    steps_per_generation: int | None = None  # None: = gradient_accumulation_steps (TRL default)
    scale_rewards: Literal["group", "batch", "none"] = "group"
    gradient_checkpointing: bool = False  # True saves GPU memory on big models; slower on CPU
    save_total_limit: int | None = 2
    vllm_gpu_memory_utilization: float = Field(0.3, gt=0, le=1)
    vllm_tensor_parallel_size: int = Field(1, ge=1)
    vllm_server_host: str = "127.0.0.1"
    vllm_server_port: int = 8000
    grpo_args: dict[str, Any] = Field(default_factory=dict)  # any other trl.GRPOConfig field, passed through
    accelerate_config: str | None = None  # multi-GPU launch config (`selfif train --dry-run` prints the command)


class EvalConfig(Section):
    benchmark: str = DEFAULT_BENCHMARK
    limit: int | None = None
    generation: GenerationConfig = Field(
        default_factory=lambda: GenerationConfig(temperature=0.0, max_new_tokens=512, batch_size=16)
    )


class PipelineConfig(Section):
    run_dir: str = "runs/demo"
    model: str = "smollm2-135m"
    seeds: SeedsConfig = Field(default_factory=SeedsConfig)
    synth: SynthConfig = Field(default_factory=SynthConfig)
    label: LabelConfig = Field(default_factory=LabelConfig)
    rm: RMConfig = Field(default_factory=RMConfig)
    reward: RewardConfig = Field(default_factory=RewardConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)

    def section_hash(self, *names: str) -> str:
        """Stable hash of some sections (for the pipeline manifest: rerun a stage only if it changed)."""
        blob = json.dumps({n: getattr(self, n).model_dump(mode="json") if isinstance(getattr(self, n), BaseModel) else getattr(self, n) for n in names}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


class ConfigError(ValueError):
    pass


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (value parsed as YAML) to a nested dict, in place."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected KEY=VALUE, e.g. train.learning_rate=1e-5")
        key, raw = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {p!r} is not a section")
        node[parts[-1]] = yaml.safe_load(raw)
    return data


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> PipelineConfig:
    """Load a YAML preset (or defaults when ``path`` is None), apply overrides, validate."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"{p}: config file does not exist")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: expected a mapping at top level")
    apply_overrides(data, overrides or [])
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as e:
        lines = [f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()]
        raise ConfigError(f"{path or '<defaults>'}: invalid config:\n  " + "\n  ".join(lines)) from None
