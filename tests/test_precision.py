"""Precision selection and the one resumable generator's fingerprint rules, with the real policy."""

from __future__ import annotations

import json

import pytest

from selfif.config import GenerationConfig, SynthConfig, TrainConfig
from selfif.data.seeds import Seed
from selfif.data.synth import build_curriculum
from selfif.generation import SamplingParams, collect, make_generator
from selfif.generation.hf import TransformersGenerator
from selfif.io import InputError, write_jsonl
from selfif.labeling.label import META, PARTIAL, generate_responses
from selfif.precision import cpu_bf16_flags, resolve_precision, training_precision

GEN = GenerationConfig(backend="transformers", max_new_tokens=3, batch_size=2, temperature=0.0)


# One intra-op thread (conftest's fixture): on a shared 2-core machine OpenMP spin-waiting with
# 2 threads makes tiny generations many times slower.
pytestmark = pytest.mark.usefixtures("one_thread")


def test_auto_precision_follows_the_cpu_flags(tmp_path):
    amx = tmp_path / "amx"
    amx.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f amx_bf16 amx_tile\n")
    plain = tmp_path / "plain"
    plain.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n")
    assert cpu_bf16_flags(str(amx)) == ("amx_bf16",)
    assert cpu_bf16_flags(str(plain)) == ()
    assert cpu_bf16_flags(str(tmp_path / "missing")) == ()
    native = bool(cpu_bf16_flags())  # this machine's /proc/cpuinfo
    assert resolve_precision("auto", "cpu") == ("bf16" if native else "fp32")
    assert resolve_precision("fp32", "cpu") == "fp32" and resolve_precision("bf16", "cpu") == "bf16"
    assert resolve_precision("auto", "cuda:0") == "bf16"
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp16")


def test_grpo_config_autocasts_bf16_only_when_asked():
    from selfif.rl.trainer import build_grpo_config

    assert build_grpo_config(TrainConfig(precision="bf16", max_steps=1), "/tmp/x").bf16 is True
    assert build_grpo_config(TrainConfig(precision="fp32", max_steps=1), "/tmp/x").bf16 is False
    assert training_precision("fp32") == "fp32" and training_precision("bf16") == "bf16"


@pytest.fixture()
def curriculum(tmp_path):
    seeds = [Seed(id="a", text="Name a fruit.", source="t"), Seed(id="b", text="Name a colour.", source="t")]
    return write_jsonl(tmp_path / "curriculum.jsonl", build_curriculum(seeds, SynthConfig(levels=1, hard_ratio=1.0, seed=0)))


def test_resume_refuses_another_precision_and_a_failed_load_leaves_nothing(tmp_path, curriculum, policy):
    model, tok = policy
    out = tmp_path / "label"
    # a model that cannot be loaded: no fingerprint, no partial file left behind
    with pytest.raises((OSError, ValueError)):
        generate_responses(curriculum, out, str(tmp_path / "no-such-model"), GEN, progress=False)
    assert not (out / META).exists() and not (out / PARTIAL).exists()

    fp32 = TransformersGenerator("smollm2-135m", model=model, tokenizer=tok, precision="fp32")
    first = generate_responses(curriculum, out, "smollm2-135m", GEN, generator=fp32, max_batches=1, progress=False)
    assert (first.generated, first.precision, first.backend) == (2, "fp32", "transformers")
    assert json.loads((out / META).read_text())["precision"] == "fp32"
    bf16 = TransformersGenerator("smollm2-135m", model=model, tokenizer=tok, precision="bf16")
    with pytest.raises(InputError, match="precision: 'fp32' \\(then\\) vs 'bf16' \\(now\\)"):
        generate_responses(curriculum, out, "smollm2-135m", GEN, generator=bf16, progress=False)
    with pytest.raises(InputError, match="model: 'smollm2-135m' \\(then\\) vs"):  # another model: refused too
        generate_responses(curriculum, out, "minilm-l6", GEN, generator=fp32, progress=False)
    done = generate_responses(curriculum, out, "smollm2-135m", GEN, generator=bf16, restart=True, progress=False)
    assert done.complete and done.reused == 0 and done.precision == "bf16"


def test_ctranslate2_backend_matches_transformers_greedy(policy):
    model, tok = policy
    prompts = ["Name a fruit.", "Say hello in French."]
    params = SamplingParams(max_new_tokens=8, temperature=0.0, batch_size=2)
    ref = collect(TransformersGenerator("smollm2-135m", model=model, tokenizer=tok, precision="fp32"), prompts, params, progress=False)
    ct2 = make_generator("smollm2-135m", backend="ctranslate2", threads=1)
    assert ct2.precision == "fp32"
    assert collect(ct2, prompts, params, progress=False) == ref


def test_backends_report_which_answers_the_cap_cut(policy):
    """The engine's own finish reason, not a re-tokenised length: a one-word answer under a large
    cap ended, a story under a 6-token cap was cut (every CPU backend agrees)."""
    model, tok = policy
    prompts = ["Reply with the single word: yes", "Write a long story about a dragon and a knight."]
    hf = TransformersGenerator("smollm2-135m", model=model, tokenizer=tok, precision="fp32")
    ct2 = make_generator("smollm2-135m", backend="ctranslate2", threads=1)
    ov = make_generator("smollm2-135m", backend="openvino", precision="fp32", threads=1)
    for cap, want in ((48, [False, True]), (6, [True, True])):
        params = SamplingParams(max_new_tokens=cap, temperature=0.0, batch_size=2)
        for gen in (hf, ct2, ov):
            got = [False] * 2
            for idx, texts, cut in gen.iter_generate(prompts, params, progress=False, with_truncation=True):
                for i, c in zip(idx, cut):
                    got[i] = c
            assert got == want, (gen.name, cap, got)
    # without the flag the batches are (indices, texts) as before
    assert all(len(b) == 2 for b in hf.iter_generate(prompts, SamplingParams(4, 0.0, 1.0, 0, 2), progress=False))


def test_label_checks_every_row_before_loading_a_model(tmp_path, curriculum):
    from selfif.labeling.stage import run_label

    rows = [json.loads(line) for line in curriculum.read_text().splitlines()]
    hard = next(i for i, r in enumerate(rows) if r["constraints"])
    rows[hard]["constraints"][0]["kwargs"] = {"no_such_kwarg": 3}
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "label"
    # the model name does not exist either: the row error must come first, before any load
    with pytest.raises(InputError, match=rf"bad\.jsonl:{hard + 1}: .*no_such_kwarg"):
        run_label(bad, out, str(tmp_path / "no-such-model"), GEN, "contrast", do_audit=False, audit_only=False)
    assert not out.exists() or not any(out.iterdir())
