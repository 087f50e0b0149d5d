"""Numeric precision of every stage that runs the policy or the reward model.

``auto`` | ``fp32`` | ``bf16``. In training (policy, RM), bf16 means ``torch.autocast(..., bf16)``
around the forward passes: matmuls run in bf16 while the weights, and so the optimizer's master
copy, stay fp32. Generation-only stages (label, eval) have no optimizer, so at bf16 they load the
policy in bf16 (faster than autocast on CPU; ``benchmarks/generation.py``). ``auto`` picks bf16 only
where the CPU has *native* bf16 matrix instructions (``amx_bf16`` or ``avx512_bf16`` in
``/proc/cpuinfo``); without them oneDNN emulates bf16 and it is slower than fp32, so ``auto`` is
fp32 there. On CUDA, ``auto`` generates in bf16 and trains in fp32 (GPU presets set
``train.precision: bf16``). Eval defaults to fp32 (``EvalConfig``): bf16 changes greedy
answers.

The resolved value (never ``auto``) is what artifacts record.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Literal

Precision = Literal["auto", "fp32", "bf16"]
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.lru_cache(maxsize=1)
def cpu_bf16_flags(cpuinfo: str = "/proc/cpuinfo") -> tuple[str, ...]:
    """The native-bf16 flags the CPU reports (empty where there is no /proc/cpuinfo)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return ()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return tuple(f for f in NATIVE_BF16_FLAGS if f in flags)
    return ()


def resolve_precision(precision: str, device: str = "cpu") -> str:
    """``fp32`` or ``bf16`` for ``precision`` on ``device`` (see the module docstring)."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be auto, fp32 or bf16, got {precision!r}")
    if precision != "auto":
        return precision
    if str(device).startswith("cuda"):
        return "bf16"
    return "bf16" if cpu_bf16_flags() else "fp32"


def autocast(precision: str, device: str = "cpu"):
    """The context for forward passes at a *resolved* precision (a no-op for fp32)."""
    import torch

    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast("cuda" if str(device).startswith("cuda") else "cpu", dtype=torch.bfloat16)


def training_precision(precision: str) -> str:
    """Resolved precision of a training run (policy or RM) on this machine's device.

    On CUDA, ``auto`` is fp32 (a preset asks for bf16 by name). Training runs bf16 as autocast (TRL/accelerate ``bf16=True``, or :func:`autocast`), so the
    weights the optimizer updates stay fp32.
    """
    import torch

    if precision == "auto" and torch.cuda.is_available():
        return "fp32"
    return resolve_precision(precision, "cpu")
