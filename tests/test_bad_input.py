"""Every stage verb against one shared set of hostile files (issue 11).

Each case runs the real ``selfif`` console script in a subprocess (``HF_HUB_OFFLINE=1``), in a
fresh directory that already holds the verb's output from an earlier (good) run, and asserts:

- exit code 2 and exactly one ``error:`` line, the last one on stderr, naming the file (and the
  line, where the problem has one) -- no traceback;
- the directory is byte-for-byte as before: nothing overwritten, no stray work files;
- the process stayed under 2 GB resident (``os.wait4`` reports the child's own peak RSS): the
  50 MB-line cases must end with a located error at read time, not in the allocator.

The hostile kinds, built here per file format: a bad line mid-file, a torn last line, an empty
file, non-UTF-8 bytes, a 50 MB line, an unknown constraint id, kwargs of the wrong type, and a
missing file; plus hub names that cannot resolve offline. Every case must fail before a model is
loaded (that is what makes the whole file take seconds per case).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SELFIF = Path(sys.executable).parent / "selfif"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "NO_COLOR": "1", "COLUMNS": "200"}
HUGE_BYTES = 50 * 1024 * 1024
RSS_LIMIT_MB = 2048
HUB_NAME = "nobody-selfif-test/no-such-thing"

PROMPT = "Explain how ocean tides work to a curious ten year old in a short paragraph."


# --- rows of each format (good ones, and the two constraint-level corruptions) -----------------

def _constraint(cid: str = "punctuation:no_comma") -> dict:
    from selfif.constraints import registry

    return registry.get(cid).instance(random.Random(0)).model_dump(mode="json")


UNKNOWN = {"id": "no_such:type", "kind": "hard", "kwargs": {}, "text": "Do the impossible."}
BAD_KWARGS = {"id": "length_constraints:number_words", "kind": "hard", "kwargs": {"num_words": "many", "relation": "less than"},
              "text": "Answer with less than many words."}


def _curriculum(i: int, constraint: dict | None = None) -> dict:
    c = constraint or _constraint()
    return {"seed_id": f"s{i}", "level": 1, "prompt": f"{PROMPT} {c['text']}", "seed_text": PROMPT, "constraints": [c]}


def _pair(i: int, constraint: dict | None = None) -> dict:
    return {"seed_id": f"s{i}", "constraint": constraint or _constraint(), "response": "Tides rise and fall.", "label": i % 2}


def _bench(i: int, constraint: dict | None = None) -> dict:
    c = constraint or _constraint()
    return {"key": i, "prompt": f"{PROMPT} (v{i})", "instruction_id_list": [c["id"]], "kwargs": [c["kwargs"]]}


FORMATS = {
    # name: (row maker (i, constraint=None) -> dict, whether rows carry constraints, the field holding the text)
    "source": (lambda i, c=None: {"prompt": f"{PROMPT} (v{i})"}, False, "prompt"),
    "seeds": (lambda i, c=None: {"id": f"s{i}", "text": f"{PROMPT} (v{i})", "source": "t"}, False, "text"),
    "curriculum": (_curriculum, True, "prompt"),
    "pairs": (_pair, True, "response"),
    "benchmark": (_bench, True, "prompt"),
    "responses": (lambda i, c=None: {"prompt": f"{PROMPT} (v{i})", "response": "Tides rise and fall."}, False, "response"),
}
JSONL_KINDS = ("mid_bad", "torn", "empty", "binary", "huge", "missing")
CONSTRAINT_KINDS = ("unknown_id", "bad_kwargs")


def _line(row: dict) -> bytes:
    return (json.dumps(row) + "\n").encode()


def _write_hostile(d: Path, fmt: str, kind: str) -> Path:
    make, _, field = FORMATS[fmt]
    path = d / f"{fmt}-{kind}.jsonl"
    good = _line(make(0))
    if kind == "mid_bad":
        path.write_bytes(good + b'{"this is": not json}\n' + _line(make(2)))
    elif kind == "torn":
        path.write_bytes(good + _line(make(1))[:25])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "binary":
        path.write_bytes(good + b"\xff\xfe\x00\x01 binary \x80\x81\n" + _line(make(2)))
    elif kind == "huge":
        row = make(0)
        row[field] = "tide " * (HUGE_BYTES // 5)
        path.write_bytes(_line(row))
    elif kind == "long":  # under the line limit, over the prompt/seed bound: rejected by the row model
        row = make(0)
        row[field] = "tide " * 40_000
        path.write_bytes(_line(row))
    elif kind == "unknown_id":
        path.write_bytes(_line(make(0, UNKNOWN)))
    elif kind == "bad_kwargs":
        path.write_bytes(_line(make(0, BAD_KWARGS)))
    elif kind == "good":
        path.write_bytes(good + _line(make(1)) + _line(make(2)))
    elif kind != "missing":
        raise ValueError(kind)
    return path


def _expected_location(path: Path, kind: str) -> str:
    """What the error line must contain: ``FILE:LINE:`` where the problem has a line."""
    line = {"mid_bad": 2, "torn": 2, "binary": 2, "huge": 1, "long": 1, "unknown_id": 1, "bad_kwargs": 1}.get(kind)
    return f"{path}:{line}:" if line else f"{path}:"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    for fmt, (_, has_constraints, _) in FORMATS.items():
        for kind in JSONL_KINDS + (CONSTRAINT_KINDS if has_constraints else ()) + ("good", "long"):
            _write_hostile(d, fmt, kind)
    (d / "config-mid_bad.yaml").write_text("run_dir: runs/x\nseeds: {n: 2]\nsynth: {}\n")
    (d / "config-empty.yaml").write_text("")
    (d / "config-binary.yaml").write_bytes(b"run_dir: runs/x\nseeds: {source: \xff\xfe}\n")
    (d / "config-huge.yaml").write_bytes(b"run_dir: runs/x\n# " + b"x" * HUGE_BYTES + b"\n")
    yield d
    for f in d.glob("*-huge.*"):  # 350 MB that pytest would otherwise keep for three runs
        f.unlink()


# --- running the real CLI ---------------------------------------------------------------------

@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str
    rss_mb: float
    seconds: float


# Linux keeps a process's peak RSS across fork and exec, so a verb forked straight from this test
# process would report at least pytest's own RSS. A small launcher forks the verb instead and
# reports the verb's own peak (``wait4``).
LAUNCHER = """
import json, os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
with open(os.environ["SELFIF_TEST_RUSAGE"], "w") as f:
    json.dump([os.waitstatus_to_exitcode(status), usage.ru_maxrss], f)
"""


def run_cli(args: list[str], cwd: Path, timeout: float = 120) -> Result:
    """Run ``selfif ARGS``; ``rss_mb`` is the verb's own peak resident memory."""
    out, err, usage = cwd / ".stdout", cwd / ".stderr", cwd / ".rusage"
    t0 = time.perf_counter()
    with out.open("wb") as fo, err.open("wb") as fe:
        proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(SELFIF), *args], cwd=cwd, stdout=fo, stderr=fe,
                                stdin=subprocess.DEVNULL, env={**ENV, "SELFIF_TEST_RUSAGE": str(usage)}, start_new_session=True)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)  # the launcher and the verb it started
            proc.wait()
            pytest.fail(f"selfif {' '.join(args)} ran over {timeout} s")
    rc, maxrss_kb = json.loads(usage.read_text())
    res = Result(rc, out.read_text(errors="replace"), err.read_text(errors="replace"), maxrss_kb / 1024, time.perf_counter() - t0)
    for f in (out, err, usage):
        f.unlink()
    return res


def snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): (p.read_bytes() if p.is_file() else b"<dir>") for p in sorted(d.rglob("*"))}


def assert_located_failure(res: Result, where: str, also: str | None = None) -> None:
    assert res.rc == 2, f"exit {res.rc}\n{res.stderr[-3000:]}"
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout, res.stderr[-3000:]
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], res.stderr[-3000:]
    assert where in errors[0], f"expected {where!r} in {errors[0]!r}"
    if also is not None:
        assert also in errors[0], f"expected {also!r} in {errors[0]!r}"
    assert res.rss_mb < RSS_LIMIT_MB, f"peak RSS {res.rss_mb:.0f} MB"


# --- the cases --------------------------------------------------------------------------------

def _fake_checkpoint(d: Path) -> None:
    """What a previous good ``train-rm`` left: it must survive a failed ``--overwrite`` rerun."""
    d.mkdir(parents=True)
    (d / "selfif_rm.json").write_text('{"backbone": "minilm-l6", "good": true}\n')
    (d / "model.safetensors").write_bytes(b"previous weights")


def _prior_outputs(case: Path) -> None:
    (case / "out").mkdir()
    (case / "out" / "seeds.jsonl").write_text('{"id": "old", "text": "an earlier seed", "source": "t"}\n')
    (case / "out" / "curriculum.jsonl").write_text("earlier curriculum\n")
    for sub in ("label", "policy", "eval", "score"):
        (case / "out" / sub).mkdir()
        (case / "out" / sub / "earlier.json").write_text('{"earlier": true}\n')
    _fake_checkpoint(case / "out" / "rm")


def _argv(verb: str, f: Path, hostile: Path) -> list[str]:
    good_bench = str(hostile / "benchmark-good.jsonl")
    return {
        "seeds": ["seeds", "--source", str(f), "--out", "out/seeds.jsonl", "-n", "2", "--decontaminate", good_bench],
        "synth": ["synth", "--seeds", str(f), "--out", "out/curriculum.jsonl"],
        "label": ["label", "--curriculum", str(f), "--out", "out/label"],
        "train-rm": ["train-rm", "--pairs", str(f), "--out", "out/rm", "--overwrite", "--max-length", "32"],
        "train": ["train", "--curriculum", str(f), "--out", "out/policy"],
        "eval": ["eval", "ifeval", "--benchmark", str(f), "--out", "out/eval", "--max-new-tokens", "4"],
        "score": ["score", "ifeval", str(f), "--benchmark", good_bench, "--out", "out/score"],
        "run": ["run", "--config", str(f)],
    }[verb]


VERB_FORMAT = {"seeds": "source", "synth": "seeds", "label": "curriculum", "train-rm": "pairs", "train": "curriculum",
               "eval": "benchmark", "score": "responses"}
CASES = [(verb, kind) for verb, fmt in VERB_FORMAT.items()
         for kind in JSONL_KINDS + (CONSTRAINT_KINDS if FORMATS[fmt][1] else ())
         # a benchmark row with bad kwargs is scored as "not followed" and reported, by design
         # (tests/test_eval_cli.py::test_score_ifeval_cli), not rejected
         if (verb, kind) != ("eval", "bad_kwargs")]
CASES += [(verb, "long") for verb in ("synth", "label", "train", "eval")]  # texts that are bounded per field
CASES += [("run", kind) for kind in ("mid_bad", "empty", "binary", "huge", "missing")]

# what the message must say besides the location, where the wording is part of the contract
ALSO = {"binary": "not UTF-8 text", "missing": "does not exist", "huge": "limit", "long": "at most",
        "unknown_id": "no_such:type", "bad_kwargs": "num_words"}


@pytest.mark.parametrize(("verb", "kind"), CASES, ids=[f"{v}-{k}" for v, k in CASES])
def test_verb_rejects_hostile_file(verb, kind, hostile, tmp_path):
    if verb == "run":
        f = hostile / f"config-{kind}.yaml"
        where = f"{f}:2:" if kind in ("mid_bad", "binary") else f"{f}:"
    else:
        f = hostile / f"{VERB_FORMAT[verb]}-{kind}.jsonl"
        where = _expected_location(f, kind)
    if verb == "seeds" and kind == "empty":
        also = "no seeds survived"  # an empty source leaves 0 seeds: an error, the old file kept
    else:
        also = ALSO.get(kind)
    _prior_outputs(tmp_path)
    before = snapshot(tmp_path)
    res = run_cli(_argv(verb, f, hostile), tmp_path)
    assert_located_failure(res, where, also)
    assert snapshot(tmp_path) == before


def test_seeds_with_zero_survivors_keeps_the_existing_file(hostile, tmp_path):
    """Rows that all fail the filters (too short) -- not an empty file -- must not truncate the output."""
    src = tmp_path / "short.jsonl"
    src.write_text("".join(json.dumps({"prompt": f"hi {i}"}) + "\n" for i in range(5)))
    _prior_outputs(tmp_path)
    before = snapshot(tmp_path)
    res = run_cli(["seeds", "--source", str(src), "--out", "out/seeds.jsonl", "--decontaminate", str(hostile / "benchmark-good.jsonl")], tmp_path)
    assert_located_failure(res, f"{src}:", "no seeds survived")
    assert snapshot(tmp_path) == before


HUB_CASES = {
    "seeds-source": lambda h: ["seeds", "--source", HUB_NAME, "--out", "out/seeds.jsonl", "--decontaminate", str(h / "benchmark-good.jsonl")],
    "seeds-decontaminate": lambda h: ["seeds", "--source", str(h / "source-good.jsonl"), "--out", "out/seeds.jsonl", "--decontaminate", HUB_NAME],
    "label-model": lambda h: ["label", "--curriculum", str(h / "curriculum-good.jsonl"), "--out", "out/label", "--model", HUB_NAME],
    "train-rm-backbone": lambda h: ["train-rm", "--pairs", str(h / "pairs-good.jsonl"), "--out", "out/rm", "--overwrite", "--backbone", HUB_NAME],
    "train-model": lambda h: ["train", "--curriculum", str(h / "curriculum-good.jsonl"), "--out", "out/policy", "--model", HUB_NAME],
    "eval-model": lambda h: ["eval", "ifeval", "--benchmark", str(h / "benchmark-good.jsonl"), "--out", "out/eval", "--model", HUB_NAME],
    "eval-benchmark": lambda h: ["eval", "ifeval", "--benchmark", HUB_NAME, "--out", "out/eval"],
}


@pytest.mark.parametrize("case", list(HUB_CASES))
def test_hub_name_offline_is_one_line(case, hostile, tmp_path):
    _prior_outputs(tmp_path)
    before = snapshot(tmp_path)
    res = run_cli(HUB_CASES[case](hostile), tmp_path)
    assert_located_failure(res, f"{HUB_NAME}: ", "not found locally")
    assert "available offline" in res.stderr
    assert snapshot(tmp_path) == before


def test_train_rm_bad_audit_file(hostile, tmp_path):
    audit = tmp_path / "audit.json"
    audit.write_bytes(b'{"per_type": {"punctuation:no_comma": {"accuracy": 0.9}}}\n\xff\n')
    _prior_outputs(tmp_path)
    before = snapshot(tmp_path)
    res = run_cli(["train-rm", "--pairs", str(hostile / "pairs-good.jsonl"), "--out", "out/rm", "--overwrite",
                   "--audit", str(audit)], tmp_path)
    assert_located_failure(res, f"{audit}:2:", "not UTF-8 text")
    assert snapshot(tmp_path) == before


def test_run_marks_a_failing_stage_failed(hostile, tmp_path):
    """An input error inside a stage of ``selfif run``: the stage verb's one line, exit 2, and the
    stage recorded as failed in manifest.json (issue 11 item 3)."""
    bad = hostile / "source-mid_bad.jsonl"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"run_dir: {tmp_path / 'run'}\nseeds:\n  source: {bad}\n  n: 2\n"
                   f"eval:\n  benchmark: {hostile / 'benchmark-good.jsonl'}\n")  # offline: not the google/IFEval default
    res = run_cli(["run", "--config", str(cfg)], tmp_path)
    assert_located_failure(res, f"{bad}:2:")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["stages"]["seeds"]["status"] == "failed"


def test_run_with_a_hub_model_offline(tmp_path):
    """``selfif run`` reaches the label stage with a model name nothing can supply: the stage
    verb's one line, exit 2, the stage marked failed, and no leftovers in its directory."""
    src = tmp_path / "src.jsonl"
    src.write_text("".join(json.dumps({"prompt": t}) + "\n" for t in (
        "Explain how ocean tides work to a curious child.", "Describe the life cycle of a butterfly in simple terms.",
        "Why is the sky blue during the day but red at sunset?", "How do bees make honey from flower nectar?")))
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps(_bench(0)) + "\n")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"run_dir: {tmp_path / 'run'}\nmodel: {HUB_NAME}\nseeds:\n  source: {src}\n  n: 2\n"
                   f"  decontaminate: [{bench}]\neval:\n  benchmark: {bench}\n")
    res = run_cli(["run", "--config", str(cfg)], tmp_path)
    assert_located_failure(res, f"{HUB_NAME}: ", "not found locally")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["stages"]["label"]["status"] == "failed" and HUB_NAME in manifest["stages"]["label"]["error"]
    label_dir = tmp_path / "run" / "label"
    assert not label_dir.exists() or not any(label_dir.iterdir())
