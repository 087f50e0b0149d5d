"""The ``transformers`` backend (the reference; CPU or GPU): ``model.generate`` on left-padded batches.

``precision`` bf16 loads the model in bf16 (nothing is trained here, so no fp32 master copy is needed;
on CPU it was faster than bf16 autocast in ``benchmarks/generation.py``); a caller's fp32 model at
bf16 runs under autocast instead, its weights untouched. Ordering, batching, seeding and decoding are
the shared loop's (:func:`selfif.generation.generate_rows`).
"""

from __future__ import annotations

from collections.abc import Sequence

from selfif.generation import BatchedGenerator, SamplingParams, device as default_device
from selfif.generation.batches import is_truncated
from selfif.models import load_policy
from selfif.precision import autocast, resolve_precision


class TransformersGenerator(BatchedGenerator):
    """Batched generation with ``model.generate``; deterministic per (seed, batch)."""

    name = "transformers"

    def __init__(self, model_name: str, device: str | None = None, model=None, tokenizer=None, precision: str = "auto",
                 generate_kwargs: dict | None = None, path: str | None = None):
        """``model``/``tokenizer``: a caller's loaded policy (``model_name`` is then only its name);
        ``path``: ``model_name`` already resolved (:func:`selfif.models.resolve`)."""
        import torch

        device = device or (str(next(model.parameters()).device) if model is not None else default_device())
        self.precision = resolve_precision(precision, device)
        if model is None:
            dtype = "bfloat16" if self.precision == "bf16" else "float32"
            model, tokenizer = load_policy(path or model_name, device=device, dtype=dtype)
        # a caller's fp32 model (e.g. the pipeline's) at bf16: autocast, its weights untouched
        self._autocast = "bf16" if self.precision == "bf16" and next(model.parameters()).dtype != torch.bfloat16 else "fp32"
        self.model, self.tokenizer = model, tokenizer
        self.generate_kwargs = dict(generate_kwargs or {})  # e.g. cache_implementation="static" (benchmarks)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.context = getattr(self.model.config, "max_position_embeddings", None)
        # tokens that end an answer (the generation config's EOS ids, the tokenizer's) and the pad
        # that follows an ended answer in a batch: a row ending in none of them was cut by the cap
        eos = getattr(model.generation_config, "eos_token_id", None)
        eos = list(eos) if isinstance(eos, (list, tuple)) else [eos]
        self.end_ids = {i for i in (*eos, self.tokenizer.eos_token_id, self.tokenizer.pad_token_id) if i is not None}

    def generate_batch(self, texts: Sequence[str], params: SamplingParams, seed: int) -> tuple[list[list[int]], list[bool]]:
        import torch

        device = next(self.model.parameters()).device
        enc = self.tokenizer(list(texts), return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        kwargs = dict(max_new_tokens=params.max_new_tokens, pad_token_id=self.tokenizer.pad_token_id, **self.generate_kwargs)
        if params.greedy:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
            torch.manual_seed(seed)
        with torch.inference_mode(), autocast(self._autocast, str(device)):
            out = self.model.generate(**enc, **kwargs)
        rows = out[:, enc["input_ids"].shape[1] :].tolist()
        return rows, [is_truncated(row, self.end_ids) for row in rows]
