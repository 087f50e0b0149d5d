"""GRPO rollouts from OpenVINO on a CPU (``train.rollout_backend``).

HF ``generate`` is the slow half of a CPU GRPO step; OpenVINO GenAI generates the same completions
3-5x faster (``benchmarks/generation.py``), but needs the policy's new weights after every optimizer
step. :class:`OpenVINORollouts` builds the engine's graph once per run and hands it each step's
weights in memory (:mod:`selfif.generation.openvino_weights`), the role ``sync_weights`` plays for vLLM.

What changes against HF ``generate``: the sampling code (OpenVINO's multinomial sampler with its own
seeded generator, so the same seed gives different completions) and the numerics (F16 weights,
computed at the training precision, bf16 or fp32, as the bf16 rollout copy of
:mod:`selfif.rl.rollout_copy` does). The loss's log-probabilities still come from the training model,
as with vLLM. ``benchmarks/grpo_step.py`` measures the step and its training reward against both
HF variants.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence

log = logging.getLogger(__name__)


HONOURED = frozenset({"max_new_tokens", "min_new_tokens", "do_sample", "temperature", "top_p", "top_k", "min_p",
                      "repetition_penalty", "eos_token_id", "pad_token_id", "bos_token_id", "cache_implementation"})
"""TRL generation settings :meth:`OpenVINORollouts.generate` applies (or, like the cache layout, need not)."""


def unsupported(policy, tokenizer, generation_kwargs: dict) -> str | None:
    """Why the OpenVINO rollout engine cannot serve this policy and these sampling settings, or ``None``."""
    from selfif.generation import openvino as ov

    if not ov.available():
        return "openvino-genai is not installed"
    if not getattr(tokenizer, "is_fast", False):
        return "the tokenizer is not a fast (tokenizers-library) tokenizer"
    reason = ov.unsupported_checkpoint(policy.config.to_dict(), json.loads(tokenizer.backend_tokenizer.to_str()))
    if reason:
        return reason
    if generation_kwargs.get("min_p"):
        return "min_p sampling (OpenVINO GenAI has none)"
    unknown = sorted(k for k, v in generation_kwargs.items() if v is not None and k not in HONOURED)
    if unknown:
        return f"generation settings it does not apply: {', '.join(unknown)}"
    return None


def wants_openvino(setting: str, use_vllm: bool) -> bool:
    """Resolve ``train.rollout_backend`` (``auto`` | ``transformers`` | ``openvino``) before the model is seen.

    ``auto`` is HF ``generate`` for now: the one cpu-2h run with OpenVINO rollouts had a bug (equal
    prompts in one call got equal completions, since fixed), so how they learn is not yet measured."""
    return setting == "openvino" and not use_vllm


class OpenVINORollouts:
    """Completions for token-id prompts from an OpenVINO engine holding the policy's current weights."""

    def __init__(self, policy, tokenizer, precision: str, threads: int | None = None):
        import tempfile
        from pathlib import Path

        from selfif.generation import openvino as ov
        from selfif.generation.openvino_weights import WeightTemplate

        threads = threads or ov.default_threads()
        self.precision = ov.engine_precision(precision, threads)
        self.properties = ov.engine_properties(self.precision, threads)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="selfif-tok-") as tmp:
            tokenizer.save_pretrained(tmp)  # write_gguf reads the vocabulary from tokenizer.json
            self.template = WeightTemplate.build(policy, Path(tmp), self.properties)
        import openvino_genai as og

        self._ov_tokenizer = og.Tokenizer(str(self.template.tokenizer_dir))  # the pipeline wants one; ids go in and out
        self.pad = tokenizer.pad_token_id
        self.pipe = None
        self.synced_step: int | None = None
        log.info("rollouts generate with OpenVINO at %s (graph built in %.1f s; train.rollout_backend)",
                 self.precision, time.perf_counter() - t0)

    def sync(self, policy, step: int) -> float:
        """Load ``policy``'s current weights unless already done at ``step``; returns the seconds spent."""
        import openvino as ov
        import openvino_genai as og

        if step == self.synced_step:
            return 0.0
        t0 = time.perf_counter()
        self.pipe = None  # free the old engine first: peak memory holds one
        blob = self.template.blob(policy)
        self.pipe = og.LLMPipeline(self.template.xml, ov.Tensor(blob), self._ov_tokenizer, "CPU", None, **self.properties)
        self.synced_step = step
        return time.perf_counter() - t0

    def generate(self, prompt_ids: Sequence[Sequence[int]], generation_kwargs: dict, seed: int) -> list[list[int]]:
        """One completion per prompt (sampled, or greedy when ``do_sample`` is False), up to and including its
        end token (as TRL's HF path returns)."""
        import openvino_genai as og

        cfg = og.GenerationConfig()
        cfg.max_new_tokens = int(generation_kwargs["max_new_tokens"])
        eos = generation_kwargs.get("eos_token_id")
        cfg.stop_token_ids = set(eos if isinstance(eos, (list, tuple)) else [eos])
        cfg.do_sample = bool(generation_kwargs.get("do_sample", True))  # False: greedy (train.greedy_member)
        if cfg.do_sample:
            cfg.temperature = float(generation_kwargs.get("temperature") or 1.0)
            cfg.top_p = float(generation_kwargs.get("top_p") or 1.0)
            if generation_kwargs.get("top_k"):
                cfg.top_k = int(generation_kwargs["top_k"])
        cfg.repetition_penalty = float(generation_kwargs.get("repetition_penalty") or 1.0)
        if generation_kwargs.get("min_new_tokens"):
            cfg.min_new_tokens = int(generation_kwargs["min_new_tokens"])
        # A GRPO group is one prompt num_generations times: one per call (selfif.generation.openvino.occurrence_groups).
        from selfif.generation.openvino import generate_ids

        stops = cfg.stop_token_ids
        result = []
        for row in generate_ids(self.pipe, prompt_ids, self.pad, cfg, lambda k: (int(seed) * 1_000_003 + k) % 2**63):
            end = next((i for i, t in enumerate(row) if t in stops), None)
            result.append(row if end is None else row[: end + 1])
        return result

    def close(self) -> None:
        self.pipe = None
        self.template.close()
