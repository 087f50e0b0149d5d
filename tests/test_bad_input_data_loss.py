"""No data loss, no mixed results: outputs never replace what the user keeps or what a command
reads, files written together are complete or visibly not, and one output has one writer.

- ``train-rm --overwrite`` replaces only a checkpoint train-rm wrote: never a directory of the
  user's files (the very pairs.jsonl being trained from), never a file;
- ``score ifeval X/responses.jsonl --out X`` (and ``seeds --source S --out S``) refuse to replace
  their input;
- an evaluation directory is committed as one set with ``complete.json`` written last: a write
  that fails part-way (an OSError injected at a chosen rename, or a real full tmpfs) leaves the
  earlier set byte for byte, or, when the renames themselves are cut, a directory that
  ``eval compare``, ``--baseline`` and ``selfif run`` refuse until a rerun completes it;
- two processes on one run directory (or one evaluation directory): the second exits 2 naming
  the first one's PID, before writing anything.

Every refusal is exit 2 with one ``error:`` line, the last on stderr, and no traceback.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import DATA
from typer.testing import CliRunner

from selfif.cli import app
from selfif.io import completion_error

BENCH = DATA / "eval_handwritten_benchmark.jsonl"
RESP = DATA / "eval_handwritten_responses.jsonl"
PAIRS = DATA / "reward_pairs.jsonl"
runner = CliRunner()


def snapshot(d: Path) -> dict[str, bytes]:
    """Every file and directory under ``d`` (hidden ones too), with the bytes of each file."""
    return {str(p.relative_to(d)): (p.read_bytes() if p.is_file() else b"<dir>") for p in sorted(d.rglob("*"))}


def cli(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_error(res, *contains: str) -> str:
    """Exit 2, no traceback, exactly one ``error:`` line and it is the last line of stderr."""
    assert res.exit_code == 2, f"exit {res.exit_code}\n{res.output}\n{res.exception!r}"
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], res.stderr
    for text in contains:
        assert text in errors[0], f"expected {text!r} in {errors[0]!r}"
    return errors[0]


def upper_responses(tmp: Path) -> Path:
    """The fixture's answers upper-cased: other verdicts (all-capitals passes, lowercase fails)."""
    out = tmp / "upper.jsonl"
    out.write_text("".join(json.dumps({"prompt": r["prompt"], "response": r["response"].upper()}) + "\n"
                           for r in map(json.loads, RESP.read_text().splitlines()) if r))
    return out


def score(responses: Path, out: Path, *more: str | Path):
    return cli("score", "ifeval", responses, "--benchmark", BENCH, "--out", out, *more)


@pytest.fixture
def scored(tmp_path) -> Path:
    """An evaluation directory from an earlier, good ``score ifeval``."""
    d = tmp_path / "X"
    res = score(RESP, d)
    assert res.exit_code == 0, res.output
    assert completion_error(d) is None and json.loads((d / "complete.json").read_text())["complete"] is True
    return d


# --- 1. train-rm --overwrite deletes only a checkpoint ------------------------------------------

def test_train_rm_overwrite_refuses_a_directory_that_is_not_a_checkpoint(tmp_path):
    run = tmp_path / "runs" / "my"
    (run / "label").mkdir(parents=True)
    shutil.copy(PAIRS, run / "label" / "pairs.jsonl")
    (run / "notes.md").write_text("my notes\n")
    before = snapshot(tmp_path)
    for extra in (["--overwrite"], []):
        res = cli("train-rm", "--pairs", run / "label" / "pairs.jsonl", "--out", run, *extra)
        assert_one_error(res, f"{run}: is not a reward-model directory", "notes.md")
        assert snapshot(tmp_path) == before  # the notes and the very pairs file survive


def test_train_rm_refuses_an_out_that_is_a_file(tmp_path):
    f = tmp_path / "rm"
    f.write_text("not a directory\n")
    before = snapshot(tmp_path)
    for extra in (["--overwrite"], []):
        assert_one_error(cli("train-rm", "--pairs", PAIRS, "--out", f, *extra), f"{f}: is not a directory")
        assert snapshot(tmp_path) == before


def _checkpoint(d: Path, files: list[str] | None) -> None:
    """A directory as train-rm leaves it (``files`` is what its selfif_rm.json lists; None: an
    older checkpoint, from before the list)."""
    d.mkdir(parents=True)
    meta = {"backbone": "minilm-l6", "include_instruction": False, "max_length": 32}
    if files is not None:
        meta["files"] = files
    (d / "selfif_rm.json").write_text(json.dumps(meta))
    (d / "model.safetensors").write_bytes(b"earlier weights")
    (d / "metrics.json").write_text("{}\n")


def test_train_rm_overwrite_refuses_a_checkpoint_holding_other_files(tmp_path):
    ck = tmp_path / "rm"
    _checkpoint(ck, ["metrics.json", "model.safetensors"])
    (ck / "notes.md").write_text("keep me\n")
    before = snapshot(tmp_path)
    assert_one_error(cli("train-rm", "--pairs", PAIRS, "--out", ck, "--overwrite"),
                     f"{ck}: holds what a reward-model checkpoint does not (notes.md)")
    assert snapshot(tmp_path) == before

    # an older checkpoint (no file list) holding the pairs it would be retrained from
    old = tmp_path / "old"
    _checkpoint(old, None)
    shutil.copy(PAIRS, old / "pairs.jsonl")
    (old / "extra").mkdir()
    before = snapshot(tmp_path)
    err = assert_one_error(cli("train-rm", "--pairs", old / "pairs.jsonl", "--out", old, "--overwrite"),
                           f"{old}: holds what a reward-model checkpoint does not")
    assert "extra" in err and "pairs.jsonl" in err
    assert snapshot(tmp_path) == before


def test_train_rm_out_rule_accepts_what_train_rm_wrote(tmp_path):
    """The same rule lets through what it must: new, empty, and (with --overwrite) a checkpoint
    holding exactly the files its record lists; without --overwrite a checkpoint is kept."""
    from selfif.reward.train import check_out

    check_out(tmp_path / "new", False)
    (tmp_path / "empty").mkdir()
    check_out(tmp_path / "empty", False)
    _checkpoint(tmp_path / "rm", ["metrics.json", "model.safetensors"])
    check_out(tmp_path / "rm", True, (PAIRS,))
    with pytest.raises(FileExistsError, match="pass --overwrite"):
        check_out(tmp_path / "rm", False)


# --- 2. an output never replaces an input -------------------------------------------------------

def test_score_refuses_to_write_over_its_own_responses(scored, tmp_path):
    before = snapshot(tmp_path)
    assert_one_error(score(scored / "responses.jsonl", scored),
                     f"{scored / 'responses.jsonl'}: is an input of this command")
    assert snapshot(tmp_path) == before
    # the same file by another spelling (a symlinked directory, a ../ detour) is the same file
    (tmp_path / "link").symlink_to(scored)
    for out in (tmp_path / "link", scored / ".." / scored.name):
        assert_one_error(score(scored / "responses.jsonl", out), "is an input of this command")
    # a responses file named like another output (eval_results_strict.jsonl) is protected too
    shutil.copy(RESP, tmp_path / "eval_results_strict.jsonl")
    assert_one_error(score(tmp_path / "eval_results_strict.jsonl", tmp_path), "is an input of this command")
    (tmp_path / "link").unlink()
    (tmp_path / "eval_results_strict.jsonl").unlink()
    assert snapshot(tmp_path) == before


def test_score_refuses_to_write_over_its_baseline(scored, tmp_path):
    before = snapshot(tmp_path)
    assert_one_error(score(upper_responses(tmp_path), scored, "--baseline", scored),
                     f"{scored / 'eval_results_strict.jsonl'}: is an input of this command")
    (tmp_path / "upper.jsonl").unlink()
    assert snapshot(tmp_path) == before


def test_seeds_refuses_to_write_over_its_source(tmp_path):
    src = tmp_path / "seeds.jsonl"
    shutil.copy(DATA / "data_seeds_mixed.jsonl", src)
    before = snapshot(tmp_path)
    res = cli("seeds", "--source", src, "--out", src, "-n", "3", "--decontaminate", BENCH)
    assert_one_error(res, f"{src}: is an input of this command")
    assert snapshot(tmp_path) == before


# --- 3. a write that fails part-way: the earlier set, or a refused one -------------------------

def _staged(path: Path) -> bool:
    """Whether ``path`` is in a staging directory (selfif.io.output_set), not yet an output."""
    return ".staging-" in path.parent.name


@pytest.fixture
def fail_rename(monkeypatch):
    """``arm(name)``: the next rename of a staged file onto the output called ``name`` raises
    ENOSPC, once: a commit cut part-way (as a kill or a full disk there would)."""
    real = os.replace
    armed: dict[str, str] = {}

    def replace(src, dst, *a, **kw):
        if armed.get("name") == Path(dst).name and _staged(Path(src)) and not _staged(Path(dst)):
            armed.clear()
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", replace)
    return lambda name: armed.update(name=name)


def test_failure_while_staging_keeps_the_earlier_outputs(scored, tmp_path, monkeypatch):
    before = snapshot(scored)
    real = os.replace

    def replace(src, dst, *a, **kw):  # a full disk while the new scores.json is being written
        if _staged(Path(dst)) and Path(dst).name == "scores.json":
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", replace)
    res = score(upper_responses(tmp_path), scored)
    assert_one_error(res, "No space left on device")
    assert snapshot(scored) == before  # the earlier set byte for byte, no staging directory left
    monkeypatch.setattr(os, "replace", real)
    assert cli("eval", "compare", scored, scored).exit_code == 0


def test_cut_commit_is_refused_by_compare_and_baseline_until_a_rerun(scored, tmp_path, fail_rename):
    after = tmp_path / "after"
    assert score(RESP, after).exit_code == 0
    upper = upper_responses(tmp_path)
    # the renames of the new set are cut after the two per-row files (sorted order): new strict
    # and loose results beside the old scores.json -- the mixed directory of the bug report
    fail_rename("per_instruction.png")
    assert_one_error(score(upper, scored), "No space left on device")
    record = json.loads((scored / "complete.json").read_text())
    assert record["complete"] is False
    for cmd in (("eval", "compare", scored, after), ("eval", "compare", after, scored)):
        assert_one_error(cli(*cmd), f"{scored}: incomplete")
    assert_one_error(score(RESP, tmp_path / "other", "--baseline", scored), f"{scored}: incomplete")
    assert not (tmp_path / "other" / "scores.json").exists()

    # the rerun completes it: the same files as a clean scoring of the same answers
    assert score(upper, scored).exit_code == 0
    clean = tmp_path / "clean"
    assert score(upper, clean).exit_code == 0
    for name in ("responses.jsonl", "eval_results_strict.jsonl", "eval_results_loose.jsonl"):
        assert (scored / name).read_bytes() == (clean / name).read_bytes(), name
    assert completion_error(scored) is None
    res = cli("eval", "compare", after, scored)
    assert res.exit_code == 0, res.output


def test_a_file_changed_after_the_write_is_refused(scored, tmp_path):
    """A record that says complete, but a file of another write beside it: refused too."""
    other = tmp_path / "other"
    assert score(upper_responses(tmp_path), other).exit_code == 0
    shutil.copy(other / "eval_results_loose.jsonl", scored / "eval_results_loose.jsonl")
    assert_one_error(cli("eval", "compare", scored, other), f"{scored / 'eval_results_loose.jsonl'}: differs from")


def test_run_reruns_a_stage_whose_directory_was_left_incomplete(tmp_path, fail_rename, caplog):
    """``selfif run``'s runner (with one stage that scores, the real score_file) takes an
    incomplete directory as missing: the stage runs again and completes it."""
    from selfif.config import load_config
    from selfif.eval.ifeval import score_file
    from selfif.pipeline import run_pipeline
    from selfif.stages import Stage

    calls: list[int] = []

    def stage_run(cfg, run: Path):
        calls.append(1)
        score_file(RESP, BENCH, run / "eval-before", progress=False)
        return {}

    stages = [Stage("eval-before", ("eval",), (), ("eval-before/scores.json",), stage_run)]
    cfg = load_config(None, [f"run_dir={tmp_path / 'run'}"])
    run_pipeline(cfg, stages)
    run_pipeline(cfg, stages)
    assert len(calls) == 1  # up to date: skipped
    eval_dir = tmp_path / "run" / "eval-before"
    fail_rename("report.md")
    with pytest.raises(OSError):
        score_file(upper_responses(tmp_path), BENCH, eval_dir, progress=False)
    assert completion_error(eval_dir) is not None
    run_pipeline(cfg, stages)
    assert len(calls) == 2, "an incomplete directory must not count as the stage's output"
    assert "incomplete" in caplog.text
    assert completion_error(eval_dir) is None
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["stages"]["eval-before"]["status"] == "done"


def _mountable_tmpfs(where: Path, size: str) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    where.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True).returncode == 0


def test_full_disk_keeps_the_earlier_outputs(tmp_path):
    """A real full filesystem (a 512 KiB tmpfs; root only): the larger second scoring fails with
    ENOSPC, and what the first one wrote is there, byte for byte, and still compares."""
    disk = tmp_path / "disk"
    if not _mountable_tmpfs(disk, "512k"):
        pytest.skip("needs root and a mountable tmpfs")
    try:
        d = disk / "X"
        assert score(RESP, d).exit_code == 0
        before = snapshot(disk)
        big = tmp_path / "big.jsonl"  # 6 answers of 100 kB: the per-row files alone do not fit
        big.write_text("".join(json.dumps({"prompt": r["prompt"], "response": (r["response"] + " ") * (100_000 // (len(r["response"]) + 1))}) + "\n"
                               for r in map(json.loads, RESP.read_text().splitlines()) if r))
        assert_one_error(score(big, d), "No space left on device")
        assert snapshot(disk) == before
        assert cli("eval", "compare", d, d).exit_code == 0
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


# --- 4. one writer per run directory and per output ---------------------------------------------

HOLDER = textwrap.dedent("""
    import sys
    from selfif.io import exclusive_lock
    with exclusive_lock(sys.argv[1], inside=sys.argv[2] == "inside"):
        print("locked", flush=True)
        sys.stdin.read()  # until the test closes our stdin
""")


class Holder:
    """Another process holding an output's lock (the code ``selfif run`` and the stages use)."""

    def __init__(self, target: Path, inside: bool = True):
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(target), "inside" if inside else "beside"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "locked"

    def release(self) -> None:
        self.proc.stdin.close()
        assert self.proc.wait(30) == 0


def _run_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"run_dir: {tmp_path / 'run'}\nseeds:\n  source: {DATA / 'data_seeds_mixed.jsonl'}\n  n: 3\n"
                   f"eval:\n  benchmark: {BENCH}\n")
    return cfg


def test_second_run_on_one_directory_exits_2_naming_the_first(tmp_path):
    cfg = _run_config(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text('{"earlier": "run"}\n')
    holder = Holder(run)
    try:
        before = snapshot(run)
        res = cli("run", cfg, "--until", "seeds")
        assert_one_error(res, f"{run}: in use by another process (PID {holder.proc.pid}")
        assert snapshot(run) == before  # nothing written: not config.json, not the manifest
    finally:
        holder.release()
    res = cli("run", cfg, "--until", "seeds")  # the holder is gone: this one proceeds
    assert res.exit_code == 0, res.output
    assert json.loads((run / "manifest.json").read_text())["stages"]["seeds"]["status"] == "done"
    assert not (run / ".selfif.lock").exists()  # a finished run leaves no lock file


def test_second_writer_of_an_evaluation_or_seeds_exits_2(scored, tmp_path):
    holder = Holder(scored)
    try:
        before = snapshot(scored)
        assert_one_error(score(upper_responses(tmp_path), scored), f"{scored}: in use by another process (PID {holder.proc.pid}")
        assert snapshot(scored) == before
    finally:
        holder.release()

    out = tmp_path / "seeds.jsonl"
    holder = Holder(out, inside=False)
    try:
        res = cli("seeds", "--source", DATA / "data_seeds_mixed.jsonl", "--out", out, "-n", "3", "--decontaminate", BENCH)
        assert_one_error(res, f"{out}: in use by another process (PID {holder.proc.pid}")
        assert not out.exists()
    finally:
        holder.release()
    res = cli("seeds", "--source", DATA / "data_seeds_mixed.jsonl", "--out", out, "-n", "3", "--decontaminate", BENCH)
    assert res.exit_code == 0, res.output
    assert out.exists() and (tmp_path / "seeds.stats.json").exists()

    rm = tmp_path / "rm"  # a second trainer of one checkpoint stops before it loads a model
    holder = Holder(rm, inside=False)
    try:
        assert_one_error(cli("train-rm", "--pairs", PAIRS, "--out", rm), f"{rm}: in use by another process (PID {holder.proc.pid}")
        assert not rm.exists() and not (tmp_path / ".rm.work").exists()
    finally:
        holder.release()
