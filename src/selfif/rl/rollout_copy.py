"""A bf16 copy of the policy for CPU rollouts (``train.rollout_copy``).

Training in bf16 on a CPU is autocast: the weights stay fp32 and every matmul casts its weight to
bf16 first. That is cheap in the update (one cast per weight per forward), but generation runs one
forward per new token, so autocast re-casts every weight at every token and rollouts end up no
faster than fp32 (on a Xeon with AMX, 2 cores: 61 vs 64 tokens/s, while a model *held* in bf16 ran
140; ``benchmarks/generation.py``). This module keeps a second copy of the policy whose parameters
are bf16, refreshed in place from the fp32 weights when the optimizer has stepped since the last
refresh: the role ``sync_weights`` plays for vLLM, at the cost of one cast per step and one bf16
copy of the weights in memory.

Log-probabilities for the loss are still computed by the training model under autocast, as with
any rollout engine whose numerics differ slightly from the trainer's.
"""

from __future__ import annotations

import copy
import logging

log = logging.getLogger(__name__)

# Instance attributes accelerate sets on a prepared model to wrap ``forward`` in autocast
# (``Accelerator.prepare_model`` with native AMP). The copy drops them: its weights are bf16 already.
_AUTOCAST_WRAPPERS = ("forward", "_original_forward")


def wants_rollout_copy(setting: str, bf16_training: bool, on_cpu: bool, use_vllm: bool) -> bool:
    """Resolve ``train.rollout_copy`` (``auto`` | ``off`` | ``bf16``) for this run."""
    if setting == "off" or use_vllm or not bf16_training:
        return False
    return setting == "bf16" or on_cpu


class Bf16RolloutCopy:
    """The policy with bf16 parameters, for ``generate`` only; :meth:`sync` refreshes it."""

    def __init__(self, policy):
        import torch

        self.model = copy.deepcopy(policy)
        for name in _AUTOCAST_WRAPPERS:
            self.model.__dict__.pop(name, None)
        for p in self.model.parameters():
            p.requires_grad_(False)
            p.data = p.data.to(torch.bfloat16)
        self.model.eval()
        self.synced_step: int | None = None
        log.info("rollouts generate from a bf16 copy of the policy (train.rollout_copy)")

    def sync(self, policy, step: int) -> None:
        """Copy ``policy``'s current weights (cast to bf16) unless already done at ``step``."""
        import torch

        if step == self.synced_step:
            return
        with torch.no_grad():
            for dst, src in zip(self.model.parameters(), policy.parameters(), strict=True):
                dst.copy_(src)
        self.synced_step = step
