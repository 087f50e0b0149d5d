"""The CLI's one error boundary, against a second round of hostile inputs.

Each case runs the real ``selfif`` console script in a subprocess on files the test writes, and
asserts what a user must see: exit code 2, exactly one ``error:`` line and it is the last line on
stderr, no traceback, the earlier outputs byte for byte as they were, and an end within a time
limit (the subprocess timeout: a hang fails the test instead of stalling the suite). Where the
documented answer is not an error (a hazardous regex kwarg is counted as a verifier error, as
every rejected kwarg is), the test says so. None of these cases loads a policy model.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

SELFIF = Path(sys.executable).parent / "selfif"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "NO_COLOR": "1", "COLUMNS": "200"}
PROMPT = "Explain how ocean tides work to a curious ten year old in a short paragraph"


def selfif(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(SELFIF), *map(str, args)], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)


def user_error(p: subprocess.CompletedProcess, *needles: str) -> str:
    """The one ``error:`` line of a failed verb (asserting the convention); it names ``needles``."""
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2, (p.returncode, p.stderr[-3000:])
    assert "Traceback" not in p.stderr, p.stderr[-3000:]
    assert lines and lines[-1].startswith("error: "), p.stderr[-3000:]
    assert sum(ln.startswith("error:") for ln in lines) == 1, p.stderr[-3000:]
    for n in needles:
        assert n in lines[-1], (n, lines[-1])
    return lines[-1]


def snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file() and not p.is_symlink()}


def unchanged(before: dict[str, bytes], d: Path) -> bool:
    """Every file that was there is still there, byte for byte."""
    now = snapshot(d)
    return {k: now.get(k) for k in before} == before


def write_jsonl(path: Path, rows: list, raw: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + raw, encoding="utf-8")
    return path


def bench_rows(n: int = 3) -> list[dict]:
    return [{"key": i, "prompt": f"{PROMPT} (v{i}).", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}
            for i in range(n)]


def responses(n: int = 3) -> list[dict]:
    return [{"prompt": f"{PROMPT} (v{i}).", "response": "Tides rise and fall with the moon."} for i in range(n)]


@pytest.fixture
def evals(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(benchmark, before, after): two scored evaluation directories of the same prompts, made
    by the real scorer."""
    from selfif.eval.ifeval import score_file

    bench = write_jsonl(tmp_path / "bench.jsonl", bench_rows())
    resp = write_jsonl(tmp_path / "resp.jsonl", responses())
    before, after = tmp_path / "before", tmp_path / "after"
    score_file(resp, bench, before, progress=False)
    score_file(resp, bench, after, progress=False)
    return bench, before, after


# --- the boundary itself ---------------------------------------------------------------------

def test_boundary_maps_user_errors_to_one_line_and_keeps_bugs_as_tracebacks():
    """One home: OS, parser and validation errors are the user's; a ValueError is a bug."""
    import typer
    import yaml
    from pydantic import BaseModel
    from typer.testing import CliRunner

    from selfif.clikit import BoundaryGroup, user_error_message

    class M(BaseModel):
        n: int

    with pytest.raises(Exception) as exc:
        M.model_validate({"n": "x"})
    assert user_error_message(IsADirectoryError(21, "Is a directory", "runs/x")) == "runs/x: Is a directory"
    assert "\n" not in user_error_message(exc.value) and "n:" in user_error_message(exc.value)
    assert user_error_message(RecursionError()) is not None
    assert user_error_message(yaml.YAMLError("bad\nyaml")) == "not valid YAML (bad; yaml)"
    assert user_error_message(json.JSONDecodeError("Expecting value", "x", 0)) is not None
    assert user_error_message(ValueError("a bug")) is None and user_error_message(KeyError("k")) is None

    app = typer.Typer(cls=BoundaryGroup)

    @app.command()
    def bug() -> None:
        raise ValueError("deep inside a stage")

    @app.command()
    def oserr() -> None:
        open("/nonexistent-dir-selfif/x", "w")

    res = CliRunner().invoke(app, ["bug"])
    assert isinstance(res.exception, ValueError)  # not swallowed: a traceback for the developer
    res = CliRunner().invoke(app, ["oserr"])
    assert res.exit_code == 2 and res.output.strip().splitlines()[-1] == "error: /nonexistent-dir-selfif/x: No such file or directory"


# --- 5: hazardous regex kwargs ---------------------------------------------------------------

def test_5_regex_with_exponential_backtracking_is_refused_not_run(tmp_path: Path):
    """Chained optional parts slipped past a per-repeat guard; the path bound refuses them, so
    scoring ends at once with the kwarg counted as a verifier error (documented behaviour)."""
    keyword = "a?" * 30 + "a" * 30
    row = {"key": 1, "prompt": f"{PROMPT}.", "instruction_id_list": ["keywords:existence"], "kwargs": [{"keywords": [keyword]}]}
    bench = write_jsonl(tmp_path / "bench.jsonl", [row])
    resp = write_jsonl(tmp_path / "resp.jsonl", [{"prompt": f"{PROMPT}.", "response": "a" * 30}])
    t0 = time.monotonic()
    p = selfif("score", "ifeval", resp, "--benchmark", bench, "--out", tmp_path / "out", cwd=tmp_path, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    assert time.monotonic() - t0 < 60
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert scores["n_errors"] == 1 and "ways to match" in json.dumps(scores["errors"])
    assert scores["prompt_level_strict"] == 0.0


@pytest.mark.parametrize("keyword", ["(a|a)" * 30, "(?:a|aa)" * 20 + "b", "(?=a?)" * 30 + "b", "(?>a?)" * 30 + "b"])
def test_5_other_exponential_shapes_are_refused(keyword: str):
    from selfif.constraints.ifeval import regex_hazard

    assert "ways to match" in regex_hazard(keyword)


def test_5_accepted_patterns_search_fast_and_plain_keywords_pass():
    """What the guard lets through runs in time linear in the text, on the text that is worst
    for it (the pattern's own characters, repeated)."""
    import re

    from selfif.constraints.ifeval import regex_hazard

    for ok in ["hello", "P.P.S", r"colou?r", "a?" * 8 + "a" * 8, "(a|a)" * 8, "[abc]{2,5}x", "SECTION", "a{0,16}b"]:
        assert regex_hazard(ok) is None, ok
        t0 = time.monotonic()
        re.compile(ok, re.IGNORECASE).search("a" * 20_000)
        assert time.monotonic() - t0 < 2, ok


# --- 7: compare --resamples bound ------------------------------------------------------------

def test_7_compare_resamples_and_seed_are_bounded_flags(evals, tmp_path: Path):
    _, before, after = evals
    p = selfif("eval", "compare", before, after, "--resamples", "1000000000", cwd=tmp_path, timeout=60)
    user_error(p, "--resamples", "100000")
    p = selfif("eval", "compare", before, after, "--seed", "-1", cwd=tmp_path)
    user_error(p, "--seed")
    assert p.stdout == ""


# --- 8: serve-rm slow and vanishing clients --------------------------------------------------

def _raw_post(port: int, body_sent: bytes, declared: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              + f"Content-Length: {declared}\r\n\r\n".encode() + body_sent)
    return s


def test_8_serve_rm_times_out_slow_bodies_and_logs_one_line_per_dropped_client(loaded_rm, caplog):
    from reward_helpers import ServerThread, free_port

    from selfif.reward.server import ServerLimits

    srv = ServerThread(loaded_rm, free_port(), ServerLimits(body_timeout_s=1.0)).start()
    uvicorn_log = logging.getLogger("uvicorn.error")  # does not propagate to the root logger
    uvicorn_log.addHandler(caplog.handler)
    try:
        caplog.set_level(logging.INFO)
        t0 = time.monotonic()
        s = _raw_post(srv.port, b'{"items": [', 1000)  # then nothing: a slow (or stuck) client
        reply = s.recv(4096)
        s.close()
        assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
        assert time.monotonic() - t0 < 8
        for _ in range(5):  # clients that go away mid-body
            s = _raw_post(srv.port, b'{"items": [', 1000)
            time.sleep(0.05)
            s.close()
        time.sleep(0.5)
        import httpx

        assert httpx.get(srv.url + "/health", timeout=10).json()["status"] == "ok"
    finally:
        srv.stop()
        uvicorn_log.removeHandler(caplog.handler)
    dropped = [r for r in caplog.records if "disconnected before sending the whole request body" in r.getMessage()]
    assert len(dropped) == 5
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]


# --- 10: a benchmark row with no instructions -------------------------------------------------

def test_10_benchmark_row_without_instructions_is_located(tmp_path: Path):
    rows = bench_rows()
    rows[1]["instruction_id_list"], rows[1]["kwargs"] = [], []
    bench = write_jsonl(tmp_path / "bench.jsonl", rows)
    resp = write_jsonl(tmp_path / "resp.jsonl", responses())
    before = snapshot(tmp_path)
    p = selfif("score", "ifeval", resp, "--benchmark", bench, "--out", tmp_path / "out", cwd=tmp_path)
    user_error(p, "bench.jsonl:2", "instruction_id_list")
    assert snapshot(tmp_path) == before


# --- 13: a CSV quote that never closes --------------------------------------------------------

def test_13_csv_unterminated_quote_is_located_where_it_opens(tmp_path: Path):
    src = tmp_path / "src.csv"
    src.write_text("prompt\n" + "\n".join(f"{PROMPT} number {i}." for i in range(3))
                   + f'\n"{PROMPT} with a quote that never closes.\n' + "\n".join(f"{PROMPT} after {i}." for i in range(3)) + "\n")
    bench = write_jsonl(tmp_path / "bench.jsonl", bench_rows())
    before = snapshot(tmp_path)
    p = selfif("seeds", "--source", src, "-n", "2", "--out", tmp_path / "seeds.jsonl", "--decontaminate", bench, cwd=tmp_path)
    user_error(p, "src.csv:5", "never closed")
    assert snapshot(tmp_path) == before


# --- 14: a resumed partial file that answers a prompt twice ----------------------------------

def _eval_dir_with(tmp_path: Path, partial_rows: list[dict], generation=None) -> tuple[Path, Path]:
    """A benchmark and an ``eval ifeval`` output directory whose partial file and fingerprint are
    what the default preset would have written (the same functions compute it)."""
    from selfif.config import PipelineConfig
    from selfif.generation import generator_identity, sampling_params
    from selfif.layout import GENERATION_INFO, RESPONSES_PARTIAL
    from selfif.generation.resumable import fingerprint

    bench = write_jsonl(tmp_path / "bench.jsonl", bench_rows())
    out = tmp_path / "eval"
    out.mkdir()
    pc = PipelineConfig()
    backend, prec = generator_identity(pc.eval.generation, None, model=pc.model)
    ident = fingerprint(pc.model, sampling_params(pc.eval.generation), prec, backend)
    (out / GENERATION_INFO).write_text(json.dumps(ident if generation is None else generation))
    write_jsonl(out / RESPONSES_PARTIAL, partial_rows)
    return bench, out


def test_14_resumed_partial_with_a_duplicated_prompt_is_an_error(tmp_path: Path):
    rows = responses()
    bench, out = _eval_dir_with(tmp_path, [rows[0], rows[1], {**rows[0], "response": "A later, other answer."}])
    before = snapshot(tmp_path)
    p = selfif("eval", "ifeval", "--benchmark", bench, "--out", out, cwd=tmp_path, timeout=120)
    user_error(p, "responses.partial.jsonl:3", "already answered at line 1")
    assert snapshot(tmp_path) == before


# --- 15: OS errors on paths the user named ----------------------------------------------------

def _score_out(tmp_path: Path, out: str | Path) -> subprocess.CompletedProcess:
    bench = write_jsonl(tmp_path / "bench.jsonl", bench_rows())
    resp = write_jsonl(tmp_path / "resp.jsonl", responses())
    return selfif("score", "ifeval", resp, "--benchmark", bench, "--out", out, cwd=tmp_path)


@pytest.mark.parametrize("kind", ["existing_file", "under_a_file", "symlink_loop", "long_name"])
def test_15_unusable_out_paths_are_one_located_line(tmp_path: Path, kind: str):
    (tmp_path / "notes.txt").write_text("my notes\n")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    out = {"existing_file": "notes.txt", "under_a_file": "notes.txt/out", "symlink_loop": "loop/out",
           "long_name": "x" * 300}[kind]
    before = snapshot(tmp_path)
    p = _score_out(tmp_path, out)
    user_error(p, out[:50])
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before  # nothing earlier changed
    assert set(after) - set(before) <= {"bench.jsonl", "resp.jsonl"}


def test_15_full_disk_is_one_located_line(tmp_path: Path):
    """A 64 KiB tmpfs as the output's disk (skipped where the test may not mount one)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        bench = write_jsonl(tmp_path / "bench.jsonl", bench_rows(1))
        resp = write_jsonl(tmp_path / "resp.jsonl", [{"prompt": f"{PROMPT} (v0).", "response": "Tides. " * 20_000}])
        p = selfif("score", "ifeval", resp, "--benchmark", bench, "--out", disk / "out", cwd=tmp_path, timeout=120)
        user_error(p, str(disk / "out"), "No space left on device")
    finally:
        subprocess.run(["umount", str(disk)], check=True)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_15_read_only_out_is_one_located_line(tmp_path: Path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        user_error(_score_out(tmp_path, ro / "out"), str(ro))
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize("name", ["manifest.json", "config.json"])
def test_15_run_dir_file_that_is_a_directory(tmp_path: Path, name: str):
    run = tmp_path / "run"
    (run / name).mkdir(parents=True)
    (run / name / "keep.txt").write_text("mine\n")
    before = snapshot(tmp_path)
    p = selfif("run", "--run-dir", run, "--until", "seeds", "--set", "seeds.n=5", cwd=tmp_path, timeout=120)
    user_error(p, name)
    assert unchanged(before, tmp_path)


def test_15_compare_out_that_is_a_file_fails_before_printing(evals, tmp_path: Path):
    _, before, after = evals
    (tmp_path / "cmp").write_text("not a directory\n")
    p = selfif("eval", "compare", before, after, "--out", tmp_path / "cmp", cwd=tmp_path)
    user_error(p, "cmp")
    assert p.stdout == ""  # no table half-shown before the error
    assert (tmp_path / "cmp").read_text() == "not a directory\n"


# --- 16: parser errors ------------------------------------------------------------------------

def test_16_deeply_nested_sharegpt_json_is_located(tmp_path: Path):
    src = tmp_path / "deep.json"
    src.write_text("[" * 100_000 + "]" * 100_000)
    bench = write_jsonl(tmp_path / "bench.jsonl", bench_rows())
    p = selfif("seeds", "--source", src, "-n", "2", "--out", tmp_path / "seeds.jsonl", "--decontaminate", bench, cwd=tmp_path)
    user_error(p, "deep.json:1", "nested too deeply")
    assert not (tmp_path / "seeds.jsonl").exists()


def test_16_lone_surrogate_in_a_response_is_rejected_at_read(tmp_path: Path):
    bench = write_jsonl(tmp_path / "bench.jsonl", bench_rows())
    resp = write_jsonl(tmp_path / "resp.jsonl", responses(2),
                       raw=json.dumps({"prompt": f"{PROMPT} (v2).", "response": "x\ud800y"}) + "\n")
    before = snapshot(tmp_path)
    p = selfif("score", "ifeval", resp, "--benchmark", bench, "--out", tmp_path / "out", cwd=tmp_path)
    user_error(p, "resp.jsonl:3", "surrogate")
    assert snapshot(tmp_path) == before


def test_16_huge_integer_in_an_extra_field_is_located_in_score_seeds_and_synth(tmp_path: Path):
    big = "7" * 5000
    bench = write_jsonl(tmp_path / "bench.jsonl", bench_rows())
    resp = write_jsonl(tmp_path / "resp.jsonl", responses(2), raw=f'{{"prompt": "{PROMPT} (v2).", "response": "ok", "n": {big}}}\n')
    user_error(selfif("score", "ifeval", resp, "--benchmark", bench, "--out", tmp_path / "out", cwd=tmp_path), "resp.jsonl:3")
    src = write_jsonl(tmp_path / "src.jsonl", [{"prompt": f"{PROMPT} {i}."} for i in range(3)],
                      raw=f'{{"prompt": "{PROMPT}.", "n": {big}}}\n')
    user_error(selfif("seeds", "--source", src, "-n", "2", "--out", tmp_path / "s.jsonl", "--decontaminate", bench, cwd=tmp_path),
               "src.jsonl:4")
    seeds = write_jsonl(tmp_path / "seeds.jsonl", [{"id": "s0", "text": f"{PROMPT}.", "source": "t"}],
                        raw=f'{{"id": "s1", "text": "{PROMPT}.", "source": "t", "n": {big}}}\n')
    user_error(selfif("synth", "--seeds", seeds, "--out", tmp_path / "cur.jsonl", cwd=tmp_path), "seeds.jsonl:2")
    assert not (tmp_path / "out").exists() and not (tmp_path / "s.jsonl").exists() and not (tmp_path / "cur.jsonl").exists()


def test_16_seed_with_a_surrogate_is_one_located_line(tmp_path: Path):
    seeds = write_jsonl(tmp_path / "seeds.jsonl", [{"id": "s0", "text": f"{PROMPT}.", "source": "t"},
                                                   {"id": "s1", "text": f"{PROMPT} \ud83d.", "source": "t"}])
    user_error(selfif("synth", "--seeds", seeds, "--out", tmp_path / "cur.jsonl", cwd=tmp_path), "seeds.jsonl:2", "surrogate")


# --- 17: validation of what was read ---------------------------------------------------------

@pytest.mark.parametrize("scores", [[1], "high", "nan"])
def test_17_compare_validates_scores_json(evals, tmp_path: Path, scores):
    _, before, after = evals
    path = after / "scores.json"
    if scores == "high" or scores == "nan":
        data = json.loads(path.read_text())
        data["prompt_level_strict"] = "high" if scores == "high" else float("nan")
        scores = data
    path.write_text(json.dumps(scores))
    p = selfif("eval", "compare", before, after, cwd=tmp_path)
    user_error(p, "scores.json")
    assert p.stdout == ""


def test_17_manifest_stage_record_must_be_an_object(tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({"stages": {"seeds": "done"}}))
    before = snapshot(tmp_path)
    p = selfif("run", "--run-dir", run, "--until", "seeds", "--set", "seeds.n=5", cwd=tmp_path, timeout=120)
    user_error(p, "manifest.json", "seeds")
    assert unchanged(before, tmp_path)


def test_17_generation_json_that_is_not_an_object(tmp_path: Path):
    bench, out = _eval_dir_with(tmp_path, responses(1), generation=[1])
    before = snapshot(tmp_path)
    p = selfif("eval", "ifeval", "--benchmark", bench, "--out", out, cwd=tmp_path, timeout=120)
    user_error(p, "generation.json", "JSON object")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("seed", ["-5", "99999999999999999999999"])
def test_17_eval_seed_out_of_range_is_refused_before_anything_is_written(tmp_path: Path, seed: str):
    t0 = time.monotonic()
    p = selfif("eval", "ifeval", "--seed", seed, "--out", tmp_path / "eval", cwd=tmp_path, timeout=60)
    user_error(p, "--seed")
    assert time.monotonic() - t0 < 30  # no model was loaded
    assert not (tmp_path / "eval").exists()


# --- 18: serve-rm startup failures ------------------------------------------------------------

def test_18_serve_rm_corrupt_weights_is_one_line(trained_rm, tmp_path: Path):
    import shutil

    ckpt = tmp_path / "rm"
    shutil.copytree(trained_rm[0], ckpt)
    (ckpt / "model.safetensors").write_bytes(b"\x00garbage, not a safetensors header" * 10)
    p = selfif("serve-rm", "--rm", ckpt, "--port", "1", cwd=tmp_path, timeout=120)
    user_error(p, str(ckpt))


def test_18_serve_rm_port_in_use_is_exit_2_with_the_error_last(trained_rm, tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        p = selfif("serve-rm", "--rm", trained_rm[0], "--port", port, cwd=tmp_path, timeout=120)
    user_error(p, f"127.0.0.1:{port}", "in use")


# --- One writer per output, no output over an input: label, synth, train; score's --out -------

def _seeds_file(path: Path, n: int = 4) -> Path:
    """A small seeds.jsonl in the format `selfif seeds` writes."""
    texts = ["Describe a quiet morning at a lake", "Explain why the sky looks blue at noon",
             "Write a note inviting a neighbour to tea", "Summarise the rules of chess for a beginner"]
    return write_jsonl(path, [{"id": f"s{i}", "text": texts[i % len(texts)] + f" (take {i})", "source": "test"} for i in range(n)])


def _curriculum_file(tmp_path: Path, path: Path) -> Path:
    """A real curriculum made by the synth stage's API from a small seeds file (no model)."""
    from selfif.config import SynthConfig
    from selfif.data.synth import synthesize

    synthesize(_seeds_file(tmp_path / "curriculum-seeds.jsonl"), path, SynthConfig(levels=2, hard_ratio=1.0))
    return path


def test_score_out_that_is_a_file_is_refused_before_the_responses_are_read(tmp_path: Path):
    """The --out check comes first: the responses file here would fail at its line 1 (a prompt that
    is not in the benchmark), yet the error is about --out, so nothing was read or scored."""
    bench = write_jsonl(tmp_path / "bench.jsonl", bench_rows())
    resp = write_jsonl(tmp_path / "resp.jsonl", [{"prompt": "not a benchmark prompt", "response": "x"}])
    (tmp_path / "notes.txt").write_text("my notes\n")
    before = snapshot(tmp_path)
    p = selfif("score", "ifeval", resp, "--benchmark", bench, "--out", "notes.txt", cwd=tmp_path)
    line = user_error(p, "notes.txt", "not a directory")
    assert "resp.jsonl" not in line
    assert snapshot(tmp_path) == before


def test_synth_refuses_to_write_its_curriculum_over_the_seeds(tmp_path: Path):
    seeds = _seeds_file(tmp_path / "seeds.jsonl")
    before = snapshot(tmp_path)
    p = selfif("synth", "--seeds", seeds, "--out", seeds, cwd=tmp_path)
    user_error(p, "seeds.jsonl", "input")
    assert snapshot(tmp_path) == before  # the seeds survive, and no stats file appeared beside them


def test_label_refuses_an_out_that_would_replace_its_curriculum(tmp_path: Path):
    """`--curriculum D/pairs.jsonl --out D`: the pairs written at the end would replace the input;
    refused before any model is loaded."""
    d = tmp_path / "label"
    d.mkdir()
    curriculum = _curriculum_file(tmp_path, d / "pairs.jsonl")
    before = snapshot(tmp_path)
    t0 = time.monotonic()
    p = selfif("label", "--curriculum", curriculum, "--out", d, cwd=tmp_path)
    user_error(p, "pairs.jsonl", "input")
    assert time.monotonic() - t0 < 30  # no model was loaded
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("verb", ["synth", "label", "train"])
def test_a_second_writer_of_an_output_is_refused_with_the_holders_pid(tmp_path: Path, verb: str):
    """While this test process holds the output's lock (as a running `selfif synth`/`label`/`train`
    would), the verb exits 2 naming the holder's PID, and the output is untouched."""
    from selfif.io import exclusive_lock

    seeds = _seeds_file(tmp_path / "seeds.jsonl")
    curriculum = _curriculum_file(tmp_path, tmp_path / "curriculum.jsonl")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("an earlier output\n")
    args, target, inside = {
        "synth": (["synth", "--seeds", seeds, "--out", out / "curriculum.jsonl"], out / "curriculum.jsonl", False),
        "label": (["label", "--curriculum", curriculum, "--out", out], out, True),
        "train": (["train", "--curriculum", curriculum, "--out", out], out, True),
    }[verb]
    with exclusive_lock(target, inside=inside):
        before = snapshot(tmp_path)
        t0 = time.monotonic()
        p = selfif(*args, cwd=tmp_path)
        user_error(p, str(out), "in use by another process", f"PID {os.getpid()}")
        assert time.monotonic() - t0 < 30  # refused at once: no model loaded, nothing trained
        assert snapshot(tmp_path) == before
    assert not (out / "curriculum.jsonl").exists() and not (out / "pairs.jsonl").exists()


def test_synth_writes_when_the_lock_is_free_and_leaves_no_lock_behind(tmp_path: Path):
    """The lock does not refuse the lone writer, and a finished synth removes its lock file."""
    seeds = _seeds_file(tmp_path / "seeds.jsonl")
    out = tmp_path / "out" / "curriculum.jsonl"
    p = selfif("synth", "--seeds", seeds, "--out", out, "--levels", "2", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert out.is_file() and (out.parent / "curriculum.stats.json").is_file()
    assert sorted(x.name for x in out.parent.iterdir()) == ["curriculum.jsonl", "curriculum.stats.json"]
