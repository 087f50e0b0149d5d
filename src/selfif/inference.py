"""One generation interface for every stage that samples from a policy (eval, labelling, judges).

``make_generator(model_name, backend=...)`` returns an object with
``generate(prompts, params) -> list[str]`` and ``iter_generate(prompts, params)`` yielding
``(indices, texts)`` batch by batch (so callers can append results and resume).

Backends:
- ``transformers`` (default; CPU or GPU): length-sorted batches, left padding, chat template.
- ``vllm`` (offline batch engine) when vLLM is installed and a CUDA GPU is present.
``auto`` picks vLLM when both hold, else transformers.

Prompts are *user messages*; the chat template is applied here, in one place
(:func:`selfif.models.chat_prompt`).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tqdm.auto import tqdm

from selfif.models import chat_prompt, load_policy, resolve

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamplingParams:
    """Decoding settings. ``temperature == 0`` means greedy."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    batch_size: int = 8

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0


class TransformersGenerator:
    """Batched generation with ``model.generate``; deterministic per (seed, batch)."""

    name = "transformers"

    def __init__(self, model_name: str, device: str | None = None, model=None, tokenizer=None):
        if model is None:
            model, tokenizer = load_policy(model_name, device=device)
        self.model, self.tokenizer = model, tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def iter_generate(
        self, prompts: Sequence[str], params: SamplingParams, progress: bool = True, desc: str = "generate"
    ) -> Iterator[tuple[list[int], list[str]]]:
        import torch

        texts = [chat_prompt(self.tokenizer, p) for p in prompts]
        lengths = [len(self.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
        # Longest first: similar lengths share a batch (less padding) and OOM shows up early.
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        bs = max(1, params.batch_size)
        bar = tqdm(total=len(texts), desc=desc, unit="resp", disable=not progress)
        device = next(self.model.parameters()).device
        try:
            for b, start in enumerate(range(0, len(order), bs)):
                idx = order[start : start + bs]
                enc = self.tokenizer(
                    [texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False
                ).to(device)
                kwargs = dict(max_new_tokens=params.max_new_tokens, pad_token_id=self.tokenizer.pad_token_id)
                if params.greedy:
                    kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
                else:
                    kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
                    torch.manual_seed(params.seed * 1_000_003 + b)
                with torch.inference_mode():
                    out = self.model.generate(**enc, **kwargs)
                gen = out[:, enc["input_ids"].shape[1] :]
                outs = self.tokenizer.batch_decode(gen, skip_special_tokens=True)
                bar.update(len(idx))
                yield idx, [o.strip() for o in outs]
        finally:
            bar.close()

    def generate(self, prompts: Sequence[str], params: SamplingParams, progress: bool = True, desc: str = "generate") -> list[str]:
        result: list[str] = [""] * len(prompts)
        for idx, outs in self.iter_generate(prompts, params, progress, desc):
            for i, o in zip(idx, outs):
                result[i] = o
        return result


class VLLMGenerator:
    """vLLM offline engine (GPU). One call generates everything; yielded as a single batch."""

    name = "vllm"

    def __init__(self, model_name: str, **engine_kwargs):
        from vllm import LLM  # noqa: PLC0415 - optional dependency

        self.llm = LLM(model=resolve(model_name), **engine_kwargs)
        self.tokenizer = self.llm.get_tokenizer()

    def iter_generate(self, prompts: Sequence[str], params: SamplingParams, progress: bool = True, desc: str = "generate"):
        from vllm import SamplingParams as VSP

        sp = VSP(
            temperature=max(params.temperature, 0.0),
            top_p=params.top_p,
            max_tokens=params.max_new_tokens,
            seed=params.seed,
        )
        texts = [chat_prompt(self.tokenizer, p) for p in prompts]
        outs = self.llm.generate(texts, sp, use_tqdm=progress)
        yield list(range(len(prompts))), [o.outputs[0].text.strip() for o in outs]

    def generate(self, prompts: Sequence[str], params: SamplingParams, progress: bool = True, desc: str = "generate") -> list[str]:
        return next(iter(self.iter_generate(prompts, params, progress, desc)))[1] if prompts else []


def vllm_usable() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def make_generator(model_name: str, backend: str = "auto", **kwargs):
    """Build the generation backend: ``auto`` | ``transformers`` | ``vllm``."""
    if backend == "auto":
        backend = "vllm" if vllm_usable() else "transformers"
    if backend == "vllm":
        if not vllm_usable():
            raise RuntimeError("backend 'vllm' needs the vllm package and a CUDA GPU (pip install vllm)")
        return VLLMGenerator(model_name, **kwargs)
    if backend == "transformers":
        return TransformersGenerator(model_name, **kwargs)
    raise ValueError(f"unknown generation backend {backend!r}; expected auto, transformers or vllm")
