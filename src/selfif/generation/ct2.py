"""The ``ctranslate2`` generation backend (CPU): the same chat prompts and decoding as ``transformers``,
run by a C++ engine without Python in the per-token loop.

A packaged model alias is converted once into ``$SELFIF_CACHE/ct2/<name>-<fingerprint>`` (the
fingerprint of :func:`selfif.generation.resumable.checkpoint_fingerprint`) and loaded from there; any other
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
from collections.abc import Sequence
from pathlib import Path

from selfif.generation import BatchedGenerator
from selfif.models import ALIASES, build_dir, cache_dir, context_and_end_ids, load_tokenizer, resolve

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

    from selfif.generation.resumable import checkpoint_fingerprint

    src = Path(hf_dir)
    out = Path(out_dir) if out_dir else cache_dir() / "ct2" / f"{src.name}-{checkpoint_fingerprint(str(src))}"
    if (out / "model.bin").exists():
        return out
    log.info("converting %s for CTranslate2 -> %s (once per checkpoint)", src, out)
    return build_dir(out, lambda tmp: ctranslate2.converters.TransformersConverter(str(src)).convert(str(tmp), force=True), "model.bin")


class CTranslate2Generator(BatchedGenerator):
    """A :class:`selfif.generation.Generator` on CTranslate2's ``Generator``."""

    name = "ctranslate2"

    def __init__(self, model_name: str, precision: str = "auto", threads: int | None = None, ct2_dir: str | None = None,
                 compute_type: str = "float32", path: str | None = None):
        """``compute_type`` other than float32 (int8: quantised weights) is for benchmarks only;
        ``path``: ``model_name`` already resolved (:func:`selfif.models.resolve`)."""
        import ctranslate2

        self.precision = ct2_precision(precision) if compute_type == "float32" else compute_type
        path = Path(path or resolve(model_name))
        self.tokenizer = load_tokenizer(str(path))
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

    def generate_batch(self, texts: Sequence[str], params, seed: int) -> tuple[list[list[int]], list[bool]]:
        import ctranslate2

        kw = dict(max_length=params.max_new_tokens, include_prompt_in_result=False, end_token=self.end_ids)
        if params.greedy:
            kw.update(sampling_topk=1)
        else:
            kw.update(sampling_topk=0, sampling_topp=params.top_p, sampling_temperature=params.temperature)
            ctranslate2.set_random_seed(seed)
        toks = [self.tokenizer.convert_ids_to_tokens(self.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
        res = self.generator.generate_batch(toks, max_batch_size=max(1, params.batch_size), **kw)
        rows = [r.sequences_ids[0] for r in res]
        # the end token is not returned: a full-length result never ended
        return rows, [len(r) >= params.max_new_tokens for r in rows]
