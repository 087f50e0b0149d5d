"""The ``vllm`` backend: vLLM's offline engine on a CUDA GPU.

vLLM schedules its own batches and seeds each request from ``params.seed``, so it answers every
prompt in one call and yields them as one batch rather than running the shared loop
(:func:`selfif.generation.generate_rows`).
"""

from __future__ import annotations

from collections.abc import Sequence

from selfif.generation import SamplingParams
from selfif.models import chat_prompt, resolve
from selfif.precision import resolve_precision


class VLLMGenerator:
    """vLLM offline engine (GPU). One call generates everything; yielded as a single batch."""

    name = "vllm"

    def __init__(self, model_name: str, precision: str = "auto", path: str | None = None, **engine_kwargs):
        from vllm import LLM  # noqa: PLC0415 - optional dependency

        self.precision = resolve_precision(precision, "cuda")
        engine_kwargs.setdefault("dtype", "bfloat16" if self.precision == "bf16" else "float32")
        self.llm = LLM(model=path or resolve(model_name), **engine_kwargs)
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
