"""Batch helpers shared by every generation backend (``selfif.inference``, ``selfif.ct2``)."""

from __future__ import annotations

from collections.abc import Sequence


def length_order(tokenizer, texts: Sequence[str]) -> list[int]:
    """Indices longest first: similar lengths share a batch (less padding) and OOM shows up early."""
    lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    return sorted(range(len(texts)), key=lambda i: -lengths[i])


def collect(gen, prompts: Sequence[str], params, progress: bool = True, desc: str = "generate") -> list[str]:
    """All responses of ``gen.iter_generate`` in prompt order."""
    result: list[str] = [""] * len(prompts)
    for idx, outs in gen.iter_generate(prompts, params, progress, desc):
        for i, o in zip(idx, outs):
            result[i] = o
    return result
