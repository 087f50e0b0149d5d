"""The ``openvino`` generation backend (CPU): the same chat prompts, token ids and decoding as
``transformers``, run by OpenVINO GenAI's ``LLMPipeline`` (no Python in the per-token loop).

OpenVINO GenAI builds a Llama-family model straight from a GGUF file, so a checkpoint is handed to
it as one: :func:`write_gguf` writes the model's weights as F16 matrices and F32 norms, with the
model's hyper-parameters and its tokenizer's vocabulary. F16, not the packaged Q4_1 file: the engine
re-quantises Q4_1 blocks to its own 4-bit format, which changes every greedy answer of the default
model (0 of 16 identical in ``benchmarks/generation.py``), while F16 weights gave the reference's
exact text. The engine does not take F32 matrices.

Token ids in, token ids out: the prompt is tokenised by the checkpoint's own HF tokenizer
(:func:`selfif.models.chat_prompt`) and the answer decoded by it, so the vocabulary written to the
GGUF only has to let the engine load.

``precision`` fp32 runs the engine at f32 with an f32 KV cache and without its dynamic activation
quantisation (its CPU defaults are otherwise lossy); bf16 runs it at bf16 (a KV cache in bf16 too),
which ``auto`` picks where the CPU has native bf16 (:func:`selfif.precision.resolve_precision`).
One exception, :func:`engine_precision`: OpenVINO 2026.4.1 dies with SIGFPE while compiling the
model at bf16 on one thread of an AMX CPU (seen on an Intel Xeon host, pinned to 2 cores or not, with
any streams, KV-cache or quantisation setting; 2 threads and f32 on 1 thread ran). The process ends
without a Python error, so that case runs at fp32 instead, and the artifacts record fp32.

A packaged model alias is exported once into ``$SELFIF_CACHE/openvino/<name>-<fingerprint>``; any
other checkpoint (a trained policy) into a temporary directory deleted once the engine has loaded it.
Only Llama-architecture checkpoints with a BPE tokenizer are supported (:func:`supports`); the
``auto`` backend falls back to ``transformers`` for the rest.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from selfif.generation import BatchedGenerator
from selfif.generation.batches import is_truncated
from selfif.models import ALIASES, ModelNotAvailable, build_dir, cache_dir, context_and_end_ids, load_tokenizer, resolve
from selfif.precision import cpu_bf16_flags, resolve_precision

log = logging.getLogger(__name__)

ARCHITECTURES = ("llama",)
"""``config.model_type`` values whose GGUF layout :func:`write_gguf` knows (OpenVINO GenAI builds these)."""

GGUF_NAME = "model.gguf"


def available() -> bool:
    return importlib.util.find_spec("openvino_genai") is not None


def supports(hf_dir: str | os.PathLike) -> str | None:
    """``None`` when the checkpoint can run here, else the reason it cannot."""
    if not available():
        return "openvino-genai is not installed"
    cfg_path = Path(hf_dir) / "config.json"
    tok_path = Path(hf_dir) / "tokenizer.json"
    if not cfg_path.exists() or not tok_path.exists():
        return f"{hf_dir} has no config.json/tokenizer.json"
    return unsupported_checkpoint(json.loads(cfg_path.read_text(encoding="utf-8")), json.loads(tok_path.read_text(encoding="utf-8")))


def unsupported_checkpoint(cfg: dict, tokenizer_json: dict) -> str | None:
    """Why OpenVINO cannot run a checkpoint with this ``config.json`` and ``tokenizer.json``, or ``None``.

    One check for a checkpoint on disk (:func:`supports`) and a policy held in memory (the rollout engine)."""
    reason = unsupported_config(cfg)
    if reason:
        return reason
    tok_model = tokenizer_json.get("model", {}).get("type")
    if tok_model != "BPE":
        return f"tokenizer model {tok_model!r} is not BPE"
    return None


def unsupported_config(cfg: dict) -> str | None:
    """Why :func:`write_gguf` cannot describe a checkpoint with this ``config.json``, or ``None``."""
    if cfg.get("model_type") not in ARCHITECTURES:
        return f"model_type {cfg.get('model_type')!r} is not one of {ARCHITECTURES}"
    rope = cfg.get("rope_parameters") or cfg.get("rope_scaling") or {}
    if rope.get("rope_type", rope.get("type", "default")) != "default":
        return f"rope_type {rope.get('rope_type', rope.get('type'))!r} (only plain rotary embeddings are written)"
    if cfg.get("attention_bias") or cfg.get("mlp_bias"):
        return "attention or MLP biases (not written)"
    heads = cfg.get("num_attention_heads") or 1
    if cfg.get("head_dim") not in (None, cfg.get("hidden_size", 0) // heads):
        return "a head_dim other than hidden_size / num_attention_heads"
    return None


def rope_rows(w, n_heads: int):
    """HF stores each head's query/key rows as two rotary halves; GGUF interleaves them pairwise."""
    rows, cols = w.shape
    return w.reshape(n_heads, 2, rows // n_heads // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def _vocab_fields(tokenizer_json: dict, vocab_size: int) -> tuple[list[str], list[int], list[str]]:
    """Tokens by id, their GGUF types (1 normal, 3 control, 4 user-defined) and the BPE merges."""
    vocab = dict(tokenizer_json["model"]["vocab"])
    types = {}
    for added in tokenizer_json.get("added_tokens", []):
        vocab[added["content"]] = added["id"]
        types[added["id"]] = 3 if added.get("special") else 4
    tokens = [f"[PAD{i}]" for i in range(vocab_size)]
    for text, i in vocab.items():
        if i < vocab_size:
            tokens[i] = text
    merges = [m if isinstance(m, str) else " ".join(m) for m in tokenizer_json["model"].get("merges", [])]
    return tokens, [types.get(i, 1) for i in range(vocab_size)], merges


def write_gguf(model, hf_dir: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Write ``model`` (a Llama ``*ForCausalLM``, any dtype) as an F16 GGUF that OpenVINO GenAI loads.

    ``hf_dir`` supplies ``tokenizer.json`` (the vocabulary the engine needs in order to load)."""
    import numpy as np
    import torch
    from gguf import GGUFWriter

    cfg = model.config
    reason = unsupported_config(cfg.to_dict())
    if reason:
        raise ValueError(f"the openvino backend cannot write this checkpoint: {reason}")
    n_head, n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
    head_dim = cfg.hidden_size // n_head
    rope = getattr(cfg, "rope_parameters", None) or {}
    theta = rope.get("rope_theta", getattr(cfg, "rope_theta", 10000.0))
    tok_json = json.loads((Path(hf_dir) / "tokenizer.json").read_text(encoding="utf-8"))
    tokens, token_types, merges = _vocab_fields(tok_json, cfg.vocab_size)

    w = GGUFWriter(str(path), arch="llama")
    w.add_block_count(cfg.num_hidden_layers)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_rope_freq_base(float(theta))
    w.add_layer_norm_rms_eps(float(cfg.rms_norm_eps))
    w.add_rope_dimension_count(head_dim)
    w.add_vocab_size(cfg.vocab_size)
    w.add_file_type(1)  # mostly F16
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(token_types)
    w.add_token_merges(merges)
    for key, value in (("bos", cfg.bos_token_id), ("eos", cfg.eos_token_id), ("pad", cfg.pad_token_id)):
        value = value[0] if isinstance(value, (list, tuple)) else value
        if value is not None:
            getattr(w, f"add_{key}_token_id")(int(value))
    w.add_add_bos_token(False)

    def put(name: str, t, matrix: bool = True):
        a = t.detach().to("cpu", torch.float32).numpy()
        w.add_tensor(name, a.astype(np.float16) if matrix else a)

    sd = model.state_dict()
    put("token_embd.weight", sd["model.embed_tokens.weight"])
    put("output_norm.weight", sd["model.norm.weight"], matrix=False)
    if not cfg.tie_word_embeddings:
        put("output.weight", sd["lm_head.weight"])
    names = {"self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        put(f"blk.{i}.attn_norm.weight", sd[p + "input_layernorm.weight"], matrix=False)
        put(f"blk.{i}.ffn_norm.weight", sd[p + "post_attention_layernorm.weight"], matrix=False)
        put(f"blk.{i}.attn_q.weight", rope_rows(sd[p + "self_attn.q_proj.weight"], n_head))
        put(f"blk.{i}.attn_k.weight", rope_rows(sd[p + "self_attn.k_proj.weight"], n_kv))
        for hf_name, gguf_name in names.items():
            put(f"blk.{i}.{gguf_name}.weight", sd[p + hf_name + ".weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return Path(path)


def export(hf_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> Path:
    """The GGUF of an HF checkpoint directory (cached by checkpoint fingerprint; built atomically)."""
    from transformers import AutoModelForCausalLM

    from selfif.generation.resumable import checkpoint_fingerprint

    src = Path(hf_dir)
    out = Path(out_dir) if out_dir else cache_dir() / "openvino" / f"{src.name}-{checkpoint_fingerprint(str(src))}"
    if (out / GGUF_NAME).exists():
        return out / GGUF_NAME
    log.info("writing %s as GGUF for OpenVINO -> %s (once per checkpoint)", src, out)
    model = AutoModelForCausalLM.from_pretrained(str(src), dtype="float32")
    build_dir(out, lambda tmp: write_gguf(model, src, Path(tmp) / GGUF_NAME), GGUF_NAME)
    return out / GGUF_NAME


def occurrence_groups(prompts: Sequence[Sequence[int]]) -> list[list[int]]:
    """Indices of ``prompts`` split so that no group holds the same prompt twice (group k: k-th copies).

    OpenVINO GenAI seeds every sequence of one ``generate`` call with the same ``rng_seed``, so equal
    prompts in one call get equal samples; each group goes in its own call with its own seed."""
    rank, seen = [], {}
    for x in prompts:
        key = tuple(x)
        rank.append(seen.get(key, 0))
        seen[key] = rank[-1] + 1
    return [[i for i, r in enumerate(rank) if r == k] for k in range(max(rank, default=-1) + 1)]


def generate_ids(pipe, prompt_ids: Sequence[Sequence[int]], pad: int, config, seed_of) -> list[list[int]]:
    """The engine's token rows for token-id prompts (left-padded, masked), in the prompts' order.

    Equal prompts go in separate calls (:func:`occurrence_groups`); call ``k`` runs with
    ``config.rng_seed = seed_of(k)``."""
    import numpy as np
    import openvino as ov
    import openvino_genai as og

    rows: list = [None] * len(prompt_ids)
    for k, part in enumerate(occurrence_groups(prompt_ids)):
        sub = [list(prompt_ids[j]) for j in part]
        width = max(map(len, sub))  # left padding, masked: the engine drops it
        inputs = og.TokenizedInputs(
            ov.Tensor(np.asarray([[pad] * (width - len(x)) + x for x in sub], dtype=np.int64)),
            ov.Tensor(np.asarray([[0] * (width - len(x)) + [1] * len(x) for x in sub], dtype=np.int64)),
        )
        config.rng_seed = seed_of(k)
        for j, r in zip(part, pipe.generate(inputs, config).tokens, strict=True):
            rows[j] = list(r)
    return rows


def default_threads() -> int:
    """The engine's thread count when none is given: torch's, as the other CPU backends use."""
    import torch

    return torch.get_num_threads()


def engine_precision(precision: str, threads: int | None = None, flags: tuple[str, ...] | None = None) -> str:
    """The precision the engine runs at for ``precision`` on ``threads`` threads (``None``: the default):
    :func:`selfif.precision.resolve_precision`'s, except fp32 for bf16 on one thread of a CPU with AMX
    (``flags``: the CPU's native-bf16 flags, read from /proc/cpuinfo by default), where OpenVINO
    2026.4.1 crashes (see the module docstring)."""
    prec = resolve_precision(precision, "cpu")
    if prec != "bf16" or (threads or default_threads()) != 1:
        return prec
    return "fp32" if "amx_bf16" in (cpu_bf16_flags() if flags is None else flags) else prec


def engine_properties(precision: str, threads: int | None) -> dict:
    """OpenVINO CPU properties for ``precision`` (fp32: no lossy defaults; see the module docstring)."""
    props = {"INFERENCE_PRECISION_HINT": "f32" if precision == "fp32" else "bf16",
             "KV_CACHE_PRECISION": "f32" if precision == "fp32" else "bf16",
             "DYNAMIC_QUANTIZATION_GROUP_SIZE": 0}
    if threads:
        props["INFERENCE_NUM_THREADS"] = int(threads)
    return props


class OpenVINOGenerator(BatchedGenerator):
    """A :class:`selfif.generation.Generator` on OpenVINO GenAI's ``LLMPipeline``."""

    name = "openvino"

    def __init__(self, model_name: str, precision: str = "auto", threads: int | None = None, gguf_path: str | None = None,
                 path: str | None = None):
        """``path``: ``model_name`` already resolved (:func:`selfif.models.resolve`)."""
        import openvino_genai as og

        if threads is None:
            threads = default_threads()
        self.precision = engine_precision(precision, threads)
        if self.precision != resolve_precision(precision, "cpu"):
            log.warning("openvino: bf16 on one thread of an AMX CPU crashes OpenVINO 2026.4.1; running at fp32")
        path = Path(path or resolve(model_name))
        reason = supports(path)
        if reason:
            raise ModelNotAvailable(f"backend openvino cannot run {model_name}: {reason}; use backend transformers")
        self.tokenizer = load_tokenizer(str(path))
        tmp = None
        if gguf_path is None:
            if model_name in ALIASES:
                gguf_path = export(path)
            else:  # a policy checkpoint: written per use
                tmp = tempfile.mkdtemp(prefix="selfif-ov-")
                gguf_path = export(path, Path(tmp) / "model")
        try:
            self.pipe = og.LLMPipeline(str(gguf_path), "CPU", **engine_properties(self.precision, threads))
        finally:  # the engine holds the weights in memory once loaded
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
        self.context, self.end_ids = context_and_end_ids(path, self.tokenizer)

    def _config(self, params, seed: int):
        import openvino_genai as og

        cfg = og.GenerationConfig()
        cfg.max_new_tokens = params.max_new_tokens
        cfg.stop_token_ids = set(self.end_ids)
        if params.greedy:
            cfg.do_sample = False
        else:
            cfg.do_sample = True
            cfg.temperature = params.temperature
            cfg.top_p = params.top_p
            cfg.rng_seed = seed
        return cfg

    def generate_batch(self, texts: Sequence[str], params, seed: int) -> tuple[list[list[int]], list[bool]]:
        """Equal prompts go in separate engine calls (:func:`generate_ids`): the first with the batch's
        ``seed``, the k-th copy with ``seed * 1009 + k``."""
        ids = [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        rows = generate_ids(self.pipe, ids, self.tokenizer.pad_token_id, self._config(params, seed),
                            lambda k: seed * 1009 + k if k else seed)
        return rows, [is_truncated(r, self.end_ids) for r in rows]  # an answer that ended carries its end token
