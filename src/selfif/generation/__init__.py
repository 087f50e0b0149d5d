"""The generation layer: every stage that samples from a policy (label, eval, judges, warm start) goes through it.

``make_generator(model_name, backend=...)`` returns a :class:`Generator`:
``generate(prompts, params) -> list[str]`` and ``iter_generate(prompts, params)`` yielding
``(indices, texts)`` batch by batch (so callers can append results and resume,
:mod:`selfif.generation.resumable`); with ``with_truncation=True`` it yields ``(indices, texts,
truncated)``, where ``truncated[j]`` says the answer was cut by ``max_new_tokens`` (the engine's own
finish reason: re-tokenising the text cannot tell, since the stripped, decoded text may re-encode to
fewer tokens).

The loop is written once, :func:`generate_rows`: chat template (:func:`selfif.models.chat_prompt`),
longest prompts first, batches of ``params.batch_size``, one seed per batch, decoding, truncation
flags. A :class:`Backend` only turns one batch of prompt texts into answer token ids:

- ``transformers`` (:mod:`.hf`, the reference; CPU or GPU): left padding, ``model.generate``;
  ``precision`` bf16 = the model loaded in bf16 (nothing is trained here, so no fp32 master copy is
  needed; on CPU it was faster than bf16 autocast in ``benchmarks/generation.py``), or autocast
  around a caller's fp32 model.
- ``openvino`` (:mod:`.openvino`, CPU): the checkpoint written as an F16 GGUF and run by OpenVINO
  GenAI's ``LLMPipeline`` (Llama-architecture checkpoints with a BPE tokenizer);
  :mod:`.openvino_weights` hands it new weights in memory for GRPO rollouts.
- ``ctranslate2`` (:mod:`.ct2`, CPU, opt-in): the checkpoint converted and run by CTranslate2's C++
  engine in fp32 (``benchmarks/generation.py`` measures it against the rest).
- ``vllm`` (:mod:`.vllm`, offline batch engine) when vLLM is installed and a CUDA GPU is present. vLLM
  schedules its own batches and seeds each request, so it answers all prompts in one call instead of
  running :func:`generate_rows`.

``auto`` picks vLLM when it is usable; on a CPU-only machine, :data:`CPU_DEFAULT_BACKEND` when it
can run the model, else ``transformers``. The model name is resolved (:func:`selfif.models.resolve`)
once in :func:`make_generator` and the path handed to the backend.

Backends are imported lazily: each needs its own optional engine package.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from tqdm.auto import tqdm

from selfif.generation.batches import collect, length_order
from selfif.models import chat_prompt, resolve
from selfif.precision import resolve_precision

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


class Generator(Protocol):
    """What the stages use: a backend's name and resolved precision (recorded in artifacts) and its answers."""

    name: str
    precision: str

    def iter_generate(self, prompts: Sequence[str], params: SamplingParams, progress: bool = True,
                      desc: str = "generate", with_truncation: bool = False) -> Iterator[tuple]: ...

    def generate(self, prompts: Sequence[str], params: SamplingParams, progress: bool = True,
                 desc: str = "generate") -> list[str]: ...


class Backend(Protocol):
    """What differs between engines that :func:`generate_rows` drives: one batch in, token rows out."""

    tokenizer: object  # the checkpoint's HF tokenizer: chat template, lengths, decoding
    context: int | None  # the model's position limit (None: unknown, not checked)

    def generate_batch(self, texts: Sequence[str], params: SamplingParams, seed: int) -> tuple[list[list[int]], list[bool]]:
        """Answer token ids for chat-templated ``texts`` and whether each was cut by ``max_new_tokens``;
        ``seed`` seeds the batch when sampling (greedy ignores it)."""
        ...


def batch_seed(seed: int, batch: int) -> int:
    """The sampling seed of batch ``batch`` of a call with ``params.seed == seed``."""
    return seed * 1_000_003 + batch


def generate_rows(backend: Backend, prompts: Sequence[str], params: SamplingParams, progress: bool = True,
                  desc: str = "generate", with_truncation: bool = False) -> Iterator[tuple]:
    """The one generation loop: ``(indices, texts[, truncated])`` per batch, longest prompts first.

    Length-sorted batches pad least and run out of memory early; a prompt with no room left for
    ``max_new_tokens`` is refused before anything is generated
    (:class:`selfif.generation.batches.PromptTooLong`). Batch ``b`` is seeded with
    :func:`batch_seed`, so answers depend on (seed, batch), not on what ran before."""
    tok = backend.tokenizer
    texts = [chat_prompt(tok, p) for p in prompts]
    order = length_order(tok, texts, backend.context, params.max_new_tokens)
    bs = max(1, params.batch_size)
    bar = tqdm(total=len(texts), desc=desc, unit="resp", disable=not progress)
    try:
        for b, start in enumerate(range(0, len(order), bs)):
            idx = order[start : start + bs]
            rows, truncated = backend.generate_batch([texts[i] for i in idx], params, batch_seed(params.seed, b))
            outs = [o.strip() for o in tok.batch_decode(rows, skip_special_tokens=True)]
            bar.update(len(idx))
            yield (idx, outs, truncated) if with_truncation else (idx, outs)
    finally:
        bar.close()


class BatchedGenerator:
    """:class:`Generator` for a :class:`Backend`: ``iter_generate`` is :func:`generate_rows`."""

    def iter_generate(self, prompts: Sequence[str], params: SamplingParams, progress: bool = True,
                      desc: str = "generate", with_truncation: bool = False) -> Iterator[tuple]:
        return generate_rows(self, prompts, params, progress, desc, with_truncation)

    def generate(self, prompts: Sequence[str], params: SamplingParams, progress: bool = True,
                 desc: str = "generate") -> list[str]:
        return collect(self, prompts, params, progress, desc)


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


CPU_DEFAULT_BACKEND = "openvino"
"""What ``auto`` means on a CPU-only machine, for a model it can run
(:func:`selfif.generation.openvino.supports`; others get ``transformers``). ``benchmarks/generation.py``
measured it, at fp32, with the same greedy text as HF ``generate`` fp32 on all 16 prompts, several
times faster; CTranslate2 fp32 was slower than HF ``generate`` and its int8 mode changes the text, so
it stays opt-in."""


def vllm_usable() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def resolve_backend(backend: str, model: str | None = None, path: str | None = None) -> str:
    """The concrete backend ``auto`` stands for on this machine for ``model`` (others are returned as given);
    ``path``: ``model`` already resolved."""
    if backend != "auto":
        return backend
    if vllm_usable():
        return "vllm"
    if device() != "cpu":
        return "transformers"
    if CPU_DEFAULT_BACKEND == "openvino":
        from selfif.generation import openvino

        if path is None and model is not None:
            path = resolve(model)
        reason = openvino.supports(path) if path is not None else "no model given"
        if reason:
            log.info("generation backend auto -> transformers (openvino: %s)", reason)
            return "transformers"
    return CPU_DEFAULT_BACKEND


def make_generator(model_name: str, backend: str = "auto", **kwargs) -> Generator:
    """Build the generation backend: ``auto`` | ``transformers`` | ``openvino`` | ``ctranslate2`` | ``vllm``."""
    path = kwargs.pop("path", None) or (resolve(model_name) if kwargs.get("model") is None else None)
    backend = resolve_backend(backend, model_name, path)
    if backend == "vllm":
        if not vllm_usable():
            raise RuntimeError("backend 'vllm' needs the vllm package and a CUDA GPU (pip install vllm)")
        from selfif.generation.vllm import VLLMGenerator

        return VLLMGenerator(model_name, path=path, **kwargs)
    if backend == "transformers":
        from selfif.generation.hf import TransformersGenerator

        return TransformersGenerator(model_name, path=path, **kwargs)
    if backend == "openvino":
        from selfif.generation.openvino import OpenVINOGenerator

        return OpenVINOGenerator(model_name, path=path, **kwargs)
    if backend == "ctranslate2":
        from selfif.generation.ct2 import CTranslate2Generator

        return CTranslate2Generator(model_name, path=path, **kwargs)
    raise ValueError(f"unknown generation backend {backend!r}; expected auto, transformers, openvino, ctranslate2 or vllm")


def sampling_params(g) -> SamplingParams:
    """SamplingParams from a :class:`selfif.config.GenerationConfig`."""
    return SamplingParams(g.max_new_tokens, g.temperature, g.top_p, g.seed, g.batch_size)


def generator_identity(generation, generator=None, precision: str | None = None, model: str | None = None,
                       path: str | None = None) -> tuple[str, str]:
    """(backend, resolved precision) that responses will be made with, known before loading:
    a given generator's own, else the config's for ``model`` (``precision`` overrides ``generation.precision``;
    ``path``: ``model`` already resolved)."""
    if generator is not None:
        return getattr(generator, "name", type(generator).__name__), getattr(generator, "precision", "fp32")
    backend = resolve_backend(generation.backend, model, path)
    prec = precision or generation.precision
    if backend == "vllm":
        return backend, resolve_precision(prec, "cuda")
    if backend == "ctranslate2":
        from selfif.generation.ct2 import ct2_precision

        return backend, ct2_precision(prec)
    if backend == "openvino":
        from selfif.generation.openvino import engine_precision

        return backend, engine_precision(prec)
    return backend, resolve_precision(prec, device())


def load_for(model: str, backend: str, precision: str, generator=None, path: str | None = None):
    """A loader for :func:`selfif.generation.resumable.generate_resumable` (returns ``generator`` if given;
    ``path``: ``model`` already resolved)."""
    if generator is not None:
        return lambda: generator
    return lambda: make_generator(model, backend=backend, precision=precision, path=path)
