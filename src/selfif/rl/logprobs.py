"""The GRPO loss's per-token log-probabilities on a CPU, without TRL's fused LM head (``train.logprob_head``).

TRL 1.16 computes them with a fused LM head (``trl.trainer.utils.add_fused_lm_head``): the vocabulary
projection runs in tiles folded into online-logsumexp statistics, so the (rows, length, vocabulary)
logits never exist at once. On a GPU the fold is a Triton kernel and the point is memory. On a CPU it
is TRL's torch fallback, which

- scores every position, prompt included (its compact path is Triton-only);
- folds each tile with fp32 elementwise passes, and recomputes every tile in the backward;
- accumulates the head's gradients with fp32 matmuls even under bf16 autocast (the bf16-in, fp32-out
  ``addmm`` it would use is CUDA-only).

On the 2-core EPYC, forward + backward of SmolLM2-135M on 16 rows x (100 prompt + 128 completion)
tokens took 20.9 s under bf16 autocast with the fused head, 13.3 s with plain logits and a
log-softmax, and 8.9 s for the backbone alone (fp32: 30.0, 22.4 and 16.6 s). The fused head was most
of what kept the bf16 update from being faster (``benchmarks/grpo_step.py`` times it).

:func:`completion_logps` is the plain computation restricted to what the loss uses: the model returns
logits for the completion positions only (``logits_to_keep``), under the trainer's autocast, and the
log-softmax runs in fp32 one row at a time. It gives what the fused head gives (same temperature
scaling, 0 at padded positions, entropy when asked), to rounding. The price is memory: the kept logits
and their fp32 log-softmax live until the backward, about ``rows x completion tokens x vocabulary x
6`` bytes (16 x 128 x 49,152: 0.6 GB), where the fused head holds one tile. ``auto`` therefore uses it
on a CPU only; GPUs keep TRL's head.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager


def wants_unfused(setting: str, on_cpu: bool) -> bool:
    """Resolve ``train.logprob_head`` (validated by the config) for this run: ``auto`` = unfused on a CPU only."""
    return setting == "unfused" or (setting == "auto" and on_cpu)


def completion_logps(
    model,
    input_ids,
    attention_mask,
    logits_to_keep: int,
    *,
    temperature: float = 1.0,
    batch_size: int | None = None,
    compute_entropy: bool = False,
    entropy_grad: bool = False,
    autocast: Callable[[], AbstractContextManager] | None = None,
):
    """``(log_probs, entropies)`` of the last ``logits_to_keep`` tokens of each row, shaped like them.

    ``model`` is a causal LM taking ``logits_to_keep`` (every transformers decoder does). Positions
    whose ``attention_mask`` is 0 get 0, as with TRL's fused head. ``entropies`` is ``None`` unless
    ``compute_entropy``; it carries gradients only with ``entropy_grad`` (an entropy bonus in the
    loss), since the metric and the high-entropy mask need none. ``batch_size`` rows go through the
    model at a time (all by default); ``autocast`` is the trainer's context (``accelerator.autocast``).
    """
    import contextlib

    import torch

    k = int(logits_to_keep)
    rows = input_ids.size(0)
    step = batch_size or rows
    logps, entropies = [], []
    for start in range(0, rows, step):
        ids = input_ids[start:start + step]
        mask = attention_mask[start:start + step]
        with autocast() if autocast is not None else contextlib.nullcontext():
            logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=k + 1, use_cache=False).logits
        logits = logits[:, :-1]  # the logits at position t score token t + 1
        if temperature != 1.0:
            logits = logits / temperature
        targets = ids[:, -k:]
        for row in range(ids.size(0)):  # one row's fp32 log-softmax at a time bounds the transient memory
            z = logits[row].float()
            lse = torch.logsumexp(z, dim=-1)
            logps.append(z.gather(-1, targets[row].unsqueeze(-1)).squeeze(-1) - lse)
            if compute_entropy:
                with torch.set_grad_enabled(entropy_grad and torch.is_grad_enabled()):
                    entropies.append(lse - (torch.softmax(z, dim=-1) * z).sum(-1))
    keep = attention_mask[:, -k:] == 0
    out = torch.stack(logps).masked_fill(keep, 0.0)
    ent = torch.stack(entropies).masked_fill(keep, 0.0) if compute_entropy else None
    return out, ent
