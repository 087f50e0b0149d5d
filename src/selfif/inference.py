"""One generation interface for every stage that samples from a policy (eval, labelling, judges).

``make_generator(model_name, backend=...)`` returns an object with
``generate(prompts, params) -> list[str]`` and ``iter_generate(prompts, params)`` yielding
``(indices, texts)`` batch by batch (so callers can append results and resume); with
``with_truncation=True`` it yields ``(indices, texts, truncated)``, where ``truncated[j]`` says the
answer was cut by ``max_new_tokens`` (the engine's own finish reason: re-tokenising the text
cannot tell, since the stripped, decoded text may re-encode to fewer tokens).

Backends:
- ``transformers`` (the reference; CPU or GPU): length-sorted batches, left padding, chat template;
  ``precision`` bf16 = the model loaded in bf16 (nothing is trained here, so no fp32 master copy is
  needed; on CPU it was faster than bf16 autocast in ``benchmarks/generation.py``), or autocast
  around a caller's fp32 model.
- ``ctranslate2`` (CPU, opt-in): the checkpoint converted and run by CTranslate2's C++ engine in
  fp32 (``benchmarks/generation.py`` measures it against the rest).
- ``openvino`` (CPU): the checkpoint written as an F16 GGUF and run by OpenVINO GenAI's
  ``LLMPipeline`` (:mod:`selfif.ov`; Llama-architecture checkpoints with a BPE tokenizer).
- ``vllm`` (offline batch engine) when vLLM is installed and a CUDA GPU is present.
``auto`` picks vLLM when it is usable; on a CPU-only machine, :data:`CPU_DEFAULT_BACKEND` when it
can run the model, else ``transformers``.

Prompts are *user messages*; the chat template is applied here, in one place
(:func:`selfif.models.chat_prompt`).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tqdm.auto import tqdm

from selfif.batches import collect, is_truncated, length_order
from selfif.models import chat_prompt, load_policy, resolve
from selfif.precision import autocast, resolve_precision

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


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class TransformersGenerator:
    """Batched generation with ``model.generate``; deterministic per (seed, batch)."""

    name = "transformers"

    def __init__(self, model_name: str, device: str | None = None, model=None, tokenizer=None, precision: str = "auto",
                 generate_kwargs: dict | None = None):
        import torch

        device = device or (str(next(model.parameters()).device) if model is not None else _device())
        self.precision = resolve_precision(precision, device)
        if model is None:
            dtype = "bfloat16" if self.precision == "bf16" else "float32"
            model, tokenizer = load_policy(model_name, device=device, dtype=dtype)
        # a caller's fp32 model (e.g. the pipeline's) at bf16: autocast, its weights untouched
        self._autocast = "bf16" if self.precision == "bf16" and next(model.parameters()).dtype != torch.bfloat16 else "fp32"
        self.model, self.tokenizer = model, tokenizer
        self.generate_kwargs = dict(generate_kwargs or {})  # e.g. cache_implementation="static" (benchmarks)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        # tokens that end an answer (the generation config's EOS ids, the tokenizer's) and the pad
        # that follows an ended answer in a batch: a row ending in none of them was cut by the cap
        eos = getattr(model.generation_config, "eos_token_id", None)
        eos = list(eos) if isinstance(eos, (list, tuple)) else [eos]
        self.end_ids = {i for i in (*eos, self.tokenizer.eos_token_id, self.tokenizer.pad_token_id) if i is not None}

    def iter_generate(
        self, prompts: Sequence[str], params: SamplingParams, progress: bool = True, desc: str = "generate",
        with_truncation: bool = False,
    ) -> Iterator[tuple]:
        import torch

        texts = [chat_prompt(self.tokenizer, p) for p in prompts]
        context = getattr(self.model.config, "max_position_embeddings", None)
        order = length_order(self.tokenizer, texts, context, params.max_new_tokens)
        bs = max(1, params.batch_size)
        bar = tqdm(total=len(texts), desc=desc, unit="resp", disable=not progress)
        device = next(self.model.parameters()).device
        try:
            for b, start in enumerate(range(0, len(order), bs)):
                idx = order[start : start + bs]
                enc = self.tokenizer(
                    [texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False
                ).to(device)
                kwargs = dict(max_new_tokens=params.max_new_tokens, pad_token_id=self.tokenizer.pad_token_id, **self.generate_kwargs)
                if params.greedy:
                    kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
                else:
                    kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
                    torch.manual_seed(params.seed * 1_000_003 + b)
                with torch.inference_mode(), autocast(self._autocast, str(device)):
                    out = self.model.generate(**enc, **kwargs)
                gen = out[:, enc["input_ids"].shape[1] :]
                outs = self.tokenizer.batch_decode(gen, skip_special_tokens=True)
                bar.update(len(idx))
                if with_truncation:
                    yield idx, [o.strip() for o in outs], [is_truncated(row, self.end_ids) for row in gen.tolist()]
                else:
                    yield idx, [o.strip() for o in outs]
        finally:
            bar.close()

    def generate(self, prompts: Sequence[str], params: SamplingParams, progress: bool = True, desc: str = "generate") -> list[str]:
        return collect(self, prompts, params, progress, desc)


class VLLMGenerator:
    """vLLM offline engine (GPU). One call generates everything; yielded as a single batch."""

    name = "vllm"

    def __init__(self, model_name: str, precision: str = "auto", **engine_kwargs):
        from vllm import LLM  # noqa: PLC0415 - optional dependency

        self.precision = resolve_precision(precision, "cuda")
        engine_kwargs.setdefault("dtype", "bfloat16" if self.precision == "bf16" else "float32")
        self.llm = LLM(model=resolve(model_name), **engine_kwargs)
        self.tokenizer = self.llm.get_tokenizer()

    def iter_generate(self, prompts: Sequence[str], params: SamplingParams, progress: bool = True, desc: str = "generate",
                      with_truncation: bool = False):
        from vllm import SamplingParams as VSP

        sp = VSP(
            temperature=max(params.temperature, 0.0),
            top_p=params.top_p,
            max_tokens=params.max_new_tokens,
            seed=params.seed,
        )
        texts = [chat_prompt(self.tokenizer, p) for p in prompts]
        outs = self.llm.generate(texts, sp, use_tqdm=progress)
        texts_out = [o.outputs[0].text.strip() for o in outs]
        if with_truncation:
            yield list(range(len(prompts))), texts_out, [o.outputs[0].finish_reason == "length" for o in outs]
        else:
            yield list(range(len(prompts))), texts_out

    def generate(self, prompts: Sequence[str], params: SamplingParams, progress: bool = True, desc: str = "generate") -> list[str]:
        return next(iter(self.iter_generate(prompts, params, progress, desc)))[1] if prompts else []


CPU_DEFAULT_BACKEND = "openvino"
"""What ``auto`` means on a CPU-only machine, for a model it can run (:func:`selfif.ov.supports`;
others get ``transformers``). ``benchmarks/generation.py`` measured it, at fp32, with the same greedy
text as HF ``generate`` fp32 on all 16 prompts, several times faster; CTranslate2 fp32 was slower than
HF ``generate`` and its int8 mode changes the text, so it stays opt-in."""


def vllm_usable() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def resolve_backend(backend: str, model: str | None = None) -> str:
    """The concrete backend ``auto`` stands for on this machine for ``model`` (others are returned as given)."""
    if backend != "auto":
        return backend
    if vllm_usable():
        return "vllm"
    if _device() != "cpu":
        return "transformers"
    if CPU_DEFAULT_BACKEND == "openvino":
        from selfif import ov

        reason = ov.supports(resolve(model)) if model is not None else "no model given"
        if reason:
            log.info("generation backend auto -> transformers (openvino: %s)", reason)
            return "transformers"
    return CPU_DEFAULT_BACKEND


def make_generator(model_name: str, backend: str = "auto", **kwargs):
    """Build the generation backend: ``auto`` | ``transformers`` | ``openvino`` | ``ctranslate2`` | ``vllm``."""
    backend = resolve_backend(backend, model_name)
    if backend == "vllm":
        if not vllm_usable():
            raise RuntimeError("backend 'vllm' needs the vllm package and a CUDA GPU (pip install vllm)")
        return VLLMGenerator(model_name, **kwargs)
    if backend == "transformers":
        return TransformersGenerator(model_name, **kwargs)
    if backend == "openvino":
        from selfif.ov import OpenVINOGenerator

        return OpenVINOGenerator(model_name, **kwargs)
    if backend == "ctranslate2":
        from selfif.ct2 import CTranslate2Generator

        return CTranslate2Generator(model_name, **kwargs)
    raise ValueError(f"unknown generation backend {backend!r}; expected auto, transformers, openvino, ctranslate2 or vllm")


def sampling_params(g) -> SamplingParams:
    """SamplingParams from a :class:`selfif.config.GenerationConfig`."""
    return SamplingParams(g.max_new_tokens, g.temperature, g.top_p, g.seed, g.batch_size)


def generator_identity(generation, generator=None, precision: str | None = None, model: str | None = None) -> tuple[str, str]:
    """(backend, resolved precision) that responses will be made with, known before loading:
    a given generator's own, else the config's for ``model`` (``precision`` overrides ``generation.precision``)."""
    if generator is not None:
        return getattr(generator, "name", type(generator).__name__), getattr(generator, "precision", "fp32")
    backend = resolve_backend(generation.backend, model)
    prec = precision or generation.precision
    if backend == "vllm":
        return backend, resolve_precision(prec, "cuda")
    if backend == "ctranslate2":
        from selfif.ct2 import ct2_precision

        return backend, ct2_precision(prec)
    if backend == "openvino":
        from selfif.ov import engine_precision

        return backend, engine_precision(prec)
    return backend, resolve_precision(prec, _device())


def load_for(model: str, backend: str, precision: str, generator=None):
    """A loader for :func:`selfif.resumable.generate_resumable` (returns ``generator`` if given)."""
    if generator is not None:
        return lambda: generator
    return lambda: make_generator(model, backend=backend, precision=precision)
