"""``selfif train --dry-run``: validate a training config and print the exact launch commands.

Scale-out runs are launched by ``accelerate launch`` (one process per GPU, DeepSpeed ZeRO-3 from
``configs/accelerate/*.yaml``) and, in vLLM *server* mode, a separate ``trl vllm-serve`` process
on its own GPU(s). Getting these command lines right by hand is error-prone (the training
processes must agree with the server on host/port and model, the global batch must hold whole
GRPO groups), so the dry run derives them from the same config the run will use and checks
the arithmetic first. Nothing is started and nothing heavy is loaded.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from selfif.config import ConfigError, PipelineConfig


def _accelerate_settings(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    from selfif.io import InputError
    from selfif.yamlio import read_yaml

    p = Path(path)
    data = read_yaml(p)[0] or {}  # located: missing, too big, not UTF-8, not valid YAML, aliases, duplicate keys
    if not isinstance(data, dict):
        raise InputError(p, None, "expected a mapping (an `accelerate config` YAML)")
    ds_file = (data.get("deepspeed_config") or {}).get("deepspeed_config_file")
    if ds_file and not Path(ds_file).exists():
        raise FileNotFoundError(f"{p}: deepspeed_config_file {ds_file} does not exist (run from the repository root)")
    return data


def plan(cfg: PipelineConfig, *, curriculum: str, out_dir: str, config_path: str | None,
         overrides: list[str], rm: str | None = None, rm_url: str | None = None, model: str | None = None) -> dict[str, Any]:
    """Check batch arithmetic and build the commands; returns ``{"checks": [...], "commands": [...]}``."""
    t = cfg.train
    acc = _accelerate_settings(t.accelerate_config)
    procs = int(acc.get("num_processes", 1))
    machines = int(acc.get("num_machines", 1))
    model_name = model or t.model or cfg.model
    checks: list[str] = []
    completions_per_round = t.per_device_train_batch_size * procs * (t.steps_per_generation or t.gradient_accumulation_steps)
    if completions_per_round % t.num_generations:
        raise ConfigError(
            f"per_device_train_batch_size ({t.per_device_train_batch_size}) × processes ({procs}) × "
            f"steps_per_generation ({t.steps_per_generation or t.gradient_accumulation_steps}) = {completions_per_round} "
            f"completions per round is not a multiple of num_generations ({t.num_generations})"
        )
    if t.num_generations < 2:
        raise ConfigError("train.num_generations must be >= 2 (GRPO needs a group to compute advantages)")
    prompts = completions_per_round // t.num_generations
    checks.append(f"{procs} training processes on {machines} machine(s); {prompts} prompts × {t.num_generations} "
                  f"completions = {completions_per_round} completions per rollout round")
    checks.append(f"lr {t.learning_rate:g}, beta {t.beta:g}, temperature {t.temperature:g}, max completion "
                  f"{t.max_completion_length} tokens, {t.max_steps} steps, precision={t.precision}, schedule={t.schedule}")
    if t.guidance != "none":
        checks.append(f"guided GRPO ({t.guidance}): up to {t.guidance_per_group} repaired completion(s) per stuck group, "
                      f"advantage clip {t.guidance_max_advantage}, decay over {t.guidance_decay_steps or 'no'} steps")
    if t.warmstart.enabled:
        w = t.warmstart
        checks.append(f"warm-start first: {w.n_prompts} prompts × {w.samples_per_prompt} answers (≤ {w.max_new_tokens} "
                      f"tokens), repaired, {w.epochs} epoch(s) at lr {w.learning_rate:g}, batch {w.batch_size}")
    if t.use_vllm:
        checks.append(f"rollouts by vLLM in {t.vllm_mode} mode")
        if t.vllm_mode == "server" and machines > 1 and t.vllm_server_host in ("127.0.0.1", "localhost"):
            raise ConfigError("multi-machine training with a vLLM server: set train.vllm_server_host to the "
                             "server machine's address (127.0.0.1 only reaches the local machine)")
    if rm and rm_url:
        raise ConfigError("give either --rm or --rm-url, not both")

    train_cmd = ["selfif", "train", "--curriculum", curriculum, "--out", out_dir]
    if config_path:
        train_cmd += ["--config", config_path]
    for o in overrides:
        train_cmd += ["--set", o]
    if model:
        train_cmd += ["--model", model]
    if rm:
        train_cmd += ["--rm", rm]
    if rm_url:
        train_cmd += ["--rm-url", rm_url]

    commands: list[dict[str, str]] = []
    if t.use_vllm and t.vllm_mode == "server":
        serve = ["trl", "vllm-serve", "--model", model_name, "--tensor-parallel-size", str(t.vllm_tensor_parallel_size),
                 "--host", "0.0.0.0" if machines > 1 else t.vllm_server_host, "--port", str(t.vllm_server_port)]
        commands.append({"what": "vLLM rollout server (its own GPU(s), started first; e.g. CUDA_VISIBLE_DEVICES=7)",
                         "cmd": shlex.join(serve)})
    if t.accelerate_config:
        launch = ["accelerate", "launch", "--config_file", t.accelerate_config]
        if machines > 1:
            launch += ["--machine_rank", "$MACHINE_RANK", "--main_process_ip", "$MAIN_PROCESS_IP"]
        launch += ["-m", "selfif.cli"] + train_cmd[1:]
        cmd = " ".join(shlex.quote(x) if not x.startswith("$") else x for x in launch)
        what = "GRPO training (run on every machine)" if machines > 1 else "GRPO training"
        commands.append({"what": what, "cmd": cmd})
    else:
        commands.append({"what": "GRPO training (single process)", "cmd": shlex.join(train_cmd)})
    return {"checks": checks, "commands": commands}


def format_plan(p: dict[str, Any]) -> str:
    lines = ["config OK:"] + [f"  - {c}" for c in p["checks"]] + ["", "launch commands:"]
    for c in p["commands"]:
        lines += [f"  # {c['what']}", f"  {c['cmd']}"]
    return "\n".join(lines)
