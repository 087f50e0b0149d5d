"""CTranslate2 generation backend (CPU): the same chat prompts and decoding as ``transformers``,
run by a C++ engine without Python in the per-token loop.

A packaged model alias is converted once into ``$SELFIF_CACHE/ct2/<name>-<fingerprint>`` (the
fingerprint of :func:`selfif.resumable.checkpoint_fingerprint`) and loaded from there; any other
checkpoint (a trained policy, evaluated once or twice) is converted into a temporary directory that
is deleted as soon as the engine has loaded it, so evaluations do not fill the cache. Only fp32 compute is offered: on CPUs CTranslate2's
other compute types are int8 variants (which change what the model computes) and bf16 only where
the CPU has AMX; ``precision`` therefore resolves to ``fp32`` here, and artifacts say so.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from selfif.batches import collect, length_order
from selfif.models import ALIASES, build_dir, cache_dir, chat_prompt, context_and_end_ids, load_tokenizer, resolve

log = logging.getLogger(__name__)


def ct2_precision(precision: str) -> str:
    """What ``precision`` resolves to on this backend (always fp32; see the module docstring)."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be auto, fp32 or bf16, got {precision!r}")
    if precision == "bf16":
        raise ValueError("the ctranslate2 backend computes in fp32 on CPU; use precision fp32/auto or backend transformers for bf16")
    return "fp32"


def convert(hf_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> Path:
    """Convert an HF checkpoint directory for CTranslate2 (cached by checkpoint fingerprint; atomic)."""
    import ctranslate2

    from selfif.resumable import checkpoint_fingerprint

    src = Path(hf_dir)
    out = Path(out_dir) if out_dir else cache_dir() / "ct2" / f"{src.name}-{checkpoint_fingerprint(str(src))}"
    if (out / "model.bin").exists():
        return out
    log.info("converting %s for CTranslate2 -> %s (once per checkpoint)", src, out)
    return build_dir(out, lambda tmp: ctranslate2.converters.TransformersConverter(str(src)).convert(str(tmp), force=True), "model.bin")


class CTranslate2Generator:
    """``iter_generate``/``generate`` like :class:`selfif.inference.TransformersGenerator`."""

    name = "ctranslate2"

    def __init__(self, model_name: str, precision: str = "auto", threads: int | None = None, ct2_dir: str | None = None,
                 compute_type: str = "float32"):
        """``compute_type`` other than float32 (int8: quantised weights) is for benchmarks only."""
        import ctranslate2

        self.precision = ct2_precision(precision) if compute_type == "float32" else compute_type
        path = Path(resolve(model_name))
        self.tokenizer = load_tokenizer(model_name)
        tmp = None
        if ct2_dir is None and model_name not in ALIASES:  # a policy checkpoint: converted per use
            tmp = tempfile.mkdtemp(prefix="selfif-ct2-")
            ct2_dir = convert(path, Path(tmp) / "model")
        try:
            self.generator = ctranslate2.Generator(
                str(ct2_dir or convert(path)), device="cpu", compute_type=compute_type,
                inter_threads=1, intra_threads=threads or 0,
            )
        finally:  # the engine holds the weights in memory once loaded
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
        self.context, self.end_ids = context_and_end_ids(path, self.tokenizer)

    def iter_generate(self, prompts: Sequence[str], params, progress: bool = True, desc: str = "generate",
                      with_truncation: bool = False) -> Iterator[tuple]:
        import ctranslate2

        texts = [chat_prompt(self.tokenizer, p) for p in prompts]
        order = length_order(self.tokenizer, texts, self.context, params.max_new_tokens)
        bs = max(1, params.batch_size)
        kw = dict(max_length=params.max_new_tokens, include_prompt_in_result=False, end_token=self.end_ids)
        if params.greedy:
            kw.update(sampling_topk=1)
        else:
            kw.update(sampling_topk=0, sampling_topp=params.top_p, sampling_temperature=params.temperature)
        bar = tqdm(total=len(texts), desc=desc, unit="resp", disable=not progress)
        try:
            for b, start in enumerate(range(0, len(order), bs)):
                idx = order[start : start + bs]
                toks = [self.tokenizer.convert_ids_to_tokens(self.tokenizer(texts[i], add_special_tokens=False)["input_ids"]) for i in idx]
                if not params.greedy:
                    ctranslate2.set_random_seed(params.seed * 1_000_003 + b)
                res = self.generator.generate_batch(toks, max_batch_size=bs, **kw)
                outs = self.tokenizer.batch_decode([r.sequences_ids[0] for r in res], skip_special_tokens=True)
                bar.update(len(idx))
                if with_truncation:  # the end token is not returned: a full-length result never ended
                    yield idx, [o.strip() for o in outs], [len(r.sequences_ids[0]) >= params.max_new_tokens for r in res]
                else:
                    yield idx, [o.strip() for o in outs]
        finally:
            bar.close()

    def generate(self, prompts: Sequence[str], params, progress: bool = True, desc: str = "generate") -> list[str]:
        return collect(self, prompts, params, progress, desc)
