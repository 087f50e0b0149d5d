"""Generation engines on this machine: tokens/s per backend, same prompts, same batch, same max tokens.

Measured, in one run, on the default packaged policy (SmolLM2-135M-Instruct), greedy:

- HF ``generate`` fp32 (the reference backend), bf16 autocast, bf16 weights, static KV cache
  (and, with ``--compile``, static cache + ``torch.compile``; on 2 cores compiling alone takes
  minutes, so it is opt-in and its compile time is printed);
- OpenVINO GenAI (``backend: openvino``, the CPU default) at fp32 and at bf16;
- CTranslate2 fp32 (``backend: ctranslate2``) and int8 (for information: it changes the weights);
- the cost of handing new weights to OpenVINO and to CTranslate2, as a GRPO rollout engine would
  every step: an in-memory policy written out and loaded.

Every backend is loaded and warmed up first (load/convert time is printed separately, not counted
in tokens/s), then timed in interleaved rounds, best of each.
Tokens are counted by re-tokenizing each response, identically for every backend; "same text"
counts responses identical to the HF fp32 reference. The last line is ``speedup X.XXx``: the
default CPU generation of ``selfif label`` (``selfif.generation.CPU_DEFAULT_BACKEND`` at precision
``auto``) against HF fp32 ``generate``; the line before it gives eval's default (the same backend at
fp32) against the same reference.

    python benchmarks/generation.py                        # 16 IFEval prompts, batch 16, 48 new tokens, 1 thread
    python benchmarks/generation.py --threads 0 --max-new-tokens 128 --compile   # all cores, longer, with compile
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def load_prompts(n: int) -> list[str]:
    from selfif.eval.benchmark import PACKAGED_IFEVAL  # the official IFEval file, shipped with selfif

    rows = [json.loads(line) for line in PACKAGED_IFEVAL.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["prompt"] for r in rows[:n]]


def timed(fn, *a):
    t = time.perf_counter()
    out = fn(*a)
    return out, time.perf_counter() - t


def print_ct2_reload_cost(model, tok) -> None:
    """GRPO rollouts through CTranslate2 would need the new weights every step: save + convert + load."""
    from selfif.generation.ct2 import CTranslate2Generator, convert

    tmp = Path(tempfile.mkdtemp(prefix="ct2-reload-"))
    try:
        _, t_save = timed(lambda: (model.save_pretrained(tmp / "hf", safe_serialization=True), tok.save_pretrained(tmp / "hf")))
        _, t_conv = timed(convert, tmp / "hf", tmp / "ct2")
        _, t_open = timed(lambda: CTranslate2Generator(str(tmp / "hf"), ct2_dir=str(tmp / "ct2")))
        print(f"ct2 weight reload per GRPO step: save {t_save:.1f} s + convert {t_conv:.1f} s + load {t_open:.1f} s "
              f"= {t_save + t_conv + t_open:.1f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def print_ov_reload_cost(model, name: str, hf_dir: str, threads: int | None) -> None:
    """GRPO rollouts through OpenVINO would need the new weights every step: GGUF written + engine loaded."""
    from selfif.generation.openvino import OpenVINOGenerator, write_gguf

    tmp = Path(tempfile.mkdtemp(prefix="ov-reload-"))
    try:
        _, t_write = timed(write_gguf, model, hf_dir, tmp / "model.gguf")
        _, t_open = timed(lambda: OpenVINOGenerator(name, precision="fp32", threads=threads, gguf_path=str(tmp / "model.gguf")))
        print(f"openvino weight reload per GRPO step: write GGUF {t_write:.1f} s + load {t_open:.1f} s = {t_write + t_open:.1f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--batch", type=int, default=16, help="16: what eval uses")
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads for torch and CTranslate2 (0: all cores); 1 by "
                    "default because on a shared 2-core machine two OpenMP threads spin against the other jobs")
    ap.add_argument("--compile", action="store_true", help="also static cache + torch.compile (slow to compile on 2 cores)")
    ap.add_argument("--rounds", type=int, default=2, help="timed passes per backend, interleaved; the best is reported")
    ap.add_argument("--skip", default="", help="comma-separated variants to skip (e.g. hf-bf16-weights)")
    args = ap.parse_args()

    import torch

    from selfif.generation.ct2 import CTranslate2Generator
    from selfif.config import GenerationConfig
    from selfif.generation import SamplingParams, collect, generator_identity
    from selfif.generation.hf import TransformersGenerator
    from selfif.models import load_policy, resolve
    from selfif.precision import cpu_bf16_flags

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = args.threads or None
    prompts = load_prompts(args.prompts)
    params = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=0.0, batch_size=args.batch)
    warm = SamplingParams(max_new_tokens=4, temperature=0.0, batch_size=args.batch)
    print(f"{len(prompts)} prompts, batch {args.batch}, <= {args.max_new_tokens} new tokens, greedy; "
          f"torch threads {torch.get_num_threads()}, native bf16 flags: {', '.join(cpu_bf16_flags()) or 'none'}")
    model, tok = load_policy(args.model, device="cpu")
    skip = set(filter(None, args.skip.split(",")))

    def hf(m=model, precision="fp32", **generate_kwargs):
        return TransformersGenerator(args.model, model=m, tokenizer=tok, precision=precision, generate_kwargs=generate_kwargs)

    variants = {
        "hf-fp32": lambda: hf(),
        "hf-bf16-autocast": lambda: hf(precision="bf16"),
        "hf-bf16-weights": lambda: TransformersGenerator(args.model, device="cpu", precision="bf16"),  # loads bf16 weights
        "hf-static-cache": lambda: hf(cache_implementation="static"),
    }
    if args.compile:
        from transformers import CompileConfig

        cc = CompileConfig(fullgraph=False, dynamic=False)
        cc._compile_all_devices = True  # transformers compiles only on accelerators unless told
        variants["hf-static-compile"] = lambda: hf(cache_implementation="static", compile_config=cc)
    from selfif.generation import openvino as ov

    have_ov = ov.supports(resolve(args.model)) is None
    if have_ov:
        variants["openvino-fp32"] = lambda: ov.OpenVINOGenerator(args.model, precision="fp32", threads=threads)
        if ov.engine_precision("bf16", threads) == "bf16":
            variants["openvino-bf16"] = lambda: ov.OpenVINOGenerator(args.model, precision="bf16", threads=threads)
        else:
            print("openvino-bf16 skipped: bf16 on one thread of an AMX CPU crashes OpenVINO, so selfif runs fp32 there")
    else:
        print(f"openvino rows skipped: {ov.supports(resolve(args.model))}")
    have_ct2 = importlib.util.find_spec("ctranslate2") is not None  # a dependency, but absent on a bare GPU image
    if have_ct2:
        variants["ctranslate2-fp32"] = lambda: CTranslate2Generator(args.model, threads=threads)
        variants["ctranslate2-int8"] = lambda: CTranslate2Generator(args.model, threads=threads, compute_type="int8")
    else:
        print("ctranslate2 is not installed here: its rows and the weight-reload cost are skipped")

    backends, setup = {}, {}
    for name, make in variants.items():
        if name in skip:
            continue
        backends[name], t_load = timed(make)
        _, t_warm = timed(collect, backends[name], prompts[: args.batch], warm, False)
        setup[name] = (t_load, t_warm)
    # Interleaved rounds, best time per backend: a shared machine's load swings between runs.
    best: dict[str, float] = {}
    outs: dict[str, list[str]] = {}
    for _ in range(max(1, args.rounds)):
        for name, b in backends.items():
            outs[name], dt = timed(collect, b, prompts, params, False)
            best[name] = min(best.get(name, float("inf")), dt)
    results: dict[str, float] = {}
    for name in backends:
        ntok = sum(len(tok(o, add_special_tokens=False)["input_ids"]) for o in outs[name])
        same = sum(a == b for a, b in zip(outs[name], outs["hf-fp32"]))
        results[name] = ntok / best[name]
        print(f"{name:20s} {results[name]:8.1f} tokens/s  {best[name]:7.1f} s  same text as hf-fp32: {same}/{len(prompts)}  "
              f"(load {setup[name][0]:.1f} s, warm-up {setup[name][1]:.1f} s)", flush=True)

    if have_ov:
        print_ov_reload_cost(model, args.model, resolve(args.model), threads)
    if have_ct2:
        print_ct2_reload_cost(model, tok)

    # what label's decoding defaults (backend auto, precision auto) resolve to here, as its artifacts record it
    backend, prec = generator_identity(GenerationConfig(), model=args.model)
    row = {"openvino": "openvino-{}", "ctranslate2": "ctranslate2-fp32", "transformers": "hf-{}"}[backend]
    label_row = row.format("bf16-weights" if backend == "transformers" and prec == "bf16" else prec)
    eval_row = row.format("fp32")
    print(f"eval's default CPU generation (backend auto, precision fp32): {backend} ({eval_row}): "
          f"{results[eval_row] / results['hf-fp32']:.2f}x HF fp32")
    print(f"default CPU generation (label: backend auto, precision auto): {backend} at {prec} ({label_row})")
    print(f"speedup {results[label_row] / results['hf-fp32']:.2f}x")


if __name__ == "__main__":
    main()
