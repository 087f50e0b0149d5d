"""The bounds behind the located errors: the JSONL line reader, the UTF-8 locator, the RM's
character cut before tokenizing, and the RM server's content type, docs switch and missing
weights (issue 11 items 1, 4 and 9)."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
from reward_helpers import ServerThread, free_port

from selfif.io import InputError, iter_jsonl_lines, iter_text_lines, locate_not_utf8, read_text
from selfif.reward.server import ServerLimits


def test_line_reader_names_the_limit_without_reading_past_it(tmp_path):
    f = tmp_path / "big.jsonl"
    f.write_bytes(b'{"a": 1}\n' + b'{"a": "' + b"x" * 5000 + b'"}\n')
    assert [n for n, _ in iter_jsonl_lines(f, max_line_bytes=6000)] == [1, 2]
    with pytest.raises(InputError, match=r"big\.jsonl:2: line is longer than the limit of 1000 bytes"):
        list(iter_jsonl_lines(f, max_line_bytes=1000))


def test_line_numbers_count_blank_lines_and_a_bom(tmp_path):
    f = tmp_path / "r.jsonl"
    f.write_bytes(b'\xef\xbb\xbf{"a": 1}\n\n  \n{"a": 2}\r\n')
    assert list(iter_jsonl_lines(f)) == [(1, {"a": 1}), (4, {"a": 2})]


def test_not_utf8_is_located_in_every_reader(tmp_path):
    f = tmp_path / "bad.txt"
    f.write_bytes(b"one\ntwo\nthr\xe9e\nfour\n")
    with pytest.raises(InputError, match=r"bad\.txt:3: not UTF-8 text"):
        list(iter_text_lines(f))
    with pytest.raises(InputError, match=r"bad\.txt:3: not UTF-8 text"):
        read_text(f)
    assert str(locate_not_utf8(f)).endswith("bad.txt:3: not UTF-8 text")


def test_utf8_locator_across_block_boundaries(tmp_path):
    """A multi-byte character split by the 1 MiB block boundary is fine; a bad byte after it is found."""
    f = tmp_path / "long.txt"
    head = b"a" * ((1 << 20) - 1) + "é".encode()  # é straddles the first block boundary
    f.write_bytes(head + b"\nok\n\xff\n")
    assert str(locate_not_utf8(f)).endswith("long.txt:3: not UTF-8 text")


def test_read_text_size_limit(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("a: 1\n" * 100)
    assert read_text(f, max_bytes=1000).startswith("a: 1")
    with pytest.raises(InputError, match="larger than the limit of 100 bytes"):
        read_text(f, max_bytes=100)


def test_rm_input_is_cut_by_characters_before_tokenizing():
    """A 50 MB response gives the tokens of its first slice: tokenizing it whole took 24 GB."""
    from transformers import AutoTokenizer

    from selfif.models import resolve
    from selfif.reward.template import MAX_CHARS_PER_TOKEN, encode

    tok = AutoTokenizer.from_pretrained(resolve("minilm-l6"))
    huge = "The tide rises and falls twice a day. " * (50 * 1024 * 1024 // 38)
    cut = huge[: 64 * MAX_CHARS_PER_TOKEN]
    got = encode(tok, [(huge, "Answer in one paragraph.", None)], max_length=64, include_instruction=False)
    want = tok(["Constraint:\nAnswer in one paragraph.\n\nResponse:\n"], [cut], truncation="longest_first", max_length=64)
    assert got["input_ids"] == want["input_ids"] and len(got["input_ids"][0]) == 64


@pytest.fixture(scope="module")
def servers(loaded_rm):
    limits = ServerLimits(max_body_bytes=16 * 1024 * 1024, max_items=16, batch_window_ms=5.0, max_batch_items=64)
    plain = ServerThread(loaded_rm, free_port(), limits).start()
    with_docs = ServerThread(loaded_rm, free_port(), limits, docs=True).start()
    yield plain, with_docs
    plain.stop()
    with_docs.stop()


def test_server_wants_json_and_hides_docs_unless_asked(servers):
    plain, with_docs = servers
    body = json.dumps({"items": [{"response": "hello", "constraint": "Be brief."}]})
    r = httpx.post(plain.url + "/score", content=body, headers={"content-type": "text/plain"})
    assert r.status_code == 415 and "application/json" in r.json()["detail"]
    r = httpx.post(plain.url + "/score", content=body, headers={"content-type": "application/json; charset=utf-8"})
    assert r.status_code == 200 and len(r.json()["scores"]) == 1
    for path in ("/docs", "/openapi.json", "/redoc"):
        assert httpx.get(plain.url + path).status_code == 404
    assert httpx.get(with_docs.url + "/docs").status_code == 200
    assert "/score" in httpx.get(with_docs.url + "/openapi.json").json()["paths"]


def test_server_scores_a_huge_item_as_its_cut(servers, loaded_rm):
    """One 7.9 MB item is scored (cut to the model's length first) and matches in-process scoring."""
    plain, _ = servers
    huge = "word " * (7_900_000 // 5)
    r = httpx.post(plain.url + "/score", json={"items": [{"response": huge, "constraint": "Be brief."}]}, timeout=60)
    assert r.status_code == 200
    assert r.json()["scores"][0] == pytest.approx(loaded_rm.score([(huge[:100_000], "Be brief.")])[0], abs=1e-5)


def test_serve_rm_missing_weights_is_located(trained_rm, tmp_path):
    ckpt = tmp_path / "rm"
    ckpt.mkdir()
    for f in trained_rm[0].iterdir():
        if f.is_file() and f.name != "model.safetensors":
            (ckpt / f.name).write_bytes(f.read_bytes())
    selfif = [sys.executable, "-m", "selfif.cli"]
    res = subprocess.run([*selfif, "serve-rm", "--checkpoint", str(ckpt), "--port", str(free_port())],
                         capture_output=True, text=True, timeout=120, env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert res.stderr.strip().splitlines()[-1] == f"error: {ckpt / 'model.safetensors'}: reward-model weights are missing (retrain with `selfif train-rm`)"


def test_seed_sources_locate_bad_bytes(tmp_path):
    """CSV and ShareGPT-style JSON sources are decoded as they stream; a bad byte is still located."""
    from selfif.data.sources import iter_file, iter_sharegpt

    csv_file = tmp_path / "s.csv"
    csv_file.write_bytes(b"prompt\nExplain tides to a child.\nbad \xff row\n")
    with pytest.raises(InputError, match=r"s\.csv:3: not UTF-8 text"):
        list(iter_file(csv_file))
    arr = tmp_path / "s.json"
    arr.write_bytes(b'[{"conversations": [{"from": "human", "value": "hi"}]},\n'
                    b'{"conversations": [{"from": "human", "value": "h\xffi"}]}]\n')
    with pytest.raises(InputError, match=r"s\.json:2: not UTF-8 text"):
        list(iter_sharegpt(arr))


def test_json_reader_locates_errors(tmp_path):
    from selfif.io import read_json

    f = tmp_path / "audit.json"
    f.write_text('{\n  "per_type": {\n    "a": 1,\n  }\n}\n')
    with pytest.raises(InputError, match=r"audit\.json:4: not valid JSON"):
        read_json(f)
    f.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(InputError, match=r"audit\.json:1: not UTF-8 text"):
        read_json(f)


@pytest.mark.parametrize("backend", ["transformers", "openvino", "ctranslate2"])
def test_a_prompt_longer_than_the_context_is_refused_before_generating(tmp_path, backend):
    """SmolLM2 reads 8192 positions: a 9,000-word prompt is named by its key, and nothing is written
    (by every CPU backend)."""
    from typer.testing import CliRunner

    from selfif.cli import app

    bench = tmp_path / "bench.jsonl"
    rows = [{"key": 7, "prompt": "Say hi.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]},
            {"key": 1001, "prompt": "word " * 9000, "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}]
    bench.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = CliRunner().invoke(app, ["eval", "ifeval", "--model", "smollm2-135m", "--benchmark", str(bench),
                                   "--out", str(tmp_path / "e"), "--set", "eval.generation.max_new_tokens=16",
                                   "--set", f"eval.generation.backend={backend}"])
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    (line,) = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert "the prompt of key 1001 has 90" in line and "reads at most 8192" in line and "max_new_tokens 16" in line
    partial = tmp_path / "e" / "responses.partial.jsonl"
    assert not partial.exists() or partial.read_text() == ""
