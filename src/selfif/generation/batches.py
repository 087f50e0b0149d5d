"""Batch helpers shared by every generation backend and by the GRPO reward's truncation rule."""

from __future__ import annotations

from collections.abc import Sequence


class PromptTooLong(ValueError):
    """A prompt that, with the longest answer asked for, does not fit the model's context.

    Raised before anything is generated: past the context a model's positions are undefined and
    its answers silently degrade (or the backend fails mid-run, after hours of other prompts)."""

    def __init__(self, index: int, tokens: int, context: int, max_new_tokens: int, row: str | None = None):
        self.index, self.tokens, self.context, self.max_new_tokens = index, tokens, context, max_new_tokens
        super().__init__(
            f"the prompt of {row or f'row {index}'} has {tokens} tokens with the chat template; the model reads at most {context} "
            f"and max_new_tokens {max_new_tokens} leaves {context - max_new_tokens} for the prompt: "
            "shorten it or lower max_new_tokens")


def length_order(tokenizer, texts: Sequence[str], context: int | None = None, max_new_tokens: int = 0) -> list[int]:
    """Indices longest first: similar lengths share a batch (less padding) and OOM shows up early.

    With ``context`` (the model's position limit) a prompt that leaves no room for
    ``max_new_tokens`` raises :class:`PromptTooLong` first."""
    lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    if context:
        for i, n in enumerate(lengths):
            if n + max_new_tokens > context:
                raise PromptTooLong(i, n, context, max_new_tokens)
    return sorted(range(len(texts)), key=lambda i: -lengths[i])


def is_truncated(completion_ids, eos_ids) -> bool:
    """TRL's rule: a completion is truncated when its last token is not an EOS (or pad) token.

    Used by the GRPO reward (selfif.rl.truncation) and by the generators' ``with_truncation``."""
    ids = list(completion_ids)
    return bool(ids) and ids[-1] not in eos_ids


def collect(gen, prompts: Sequence[str], params, progress: bool = True, desc: str = "generate") -> list[str]:
    """All responses of ``gen.iter_generate`` in prompt order."""
    result: list[str] = [""] * len(prompts)
    for idx, outs in gen.iter_generate(prompts, params, progress, desc):
        for i, o in zip(idx, outs):
            result[i] = o
    return result
