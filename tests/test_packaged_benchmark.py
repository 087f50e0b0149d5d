"""The official IFEval file ships with the package, so the default benchmark (``google/IFEval``)
works with no network and nothing beside the repository; these tests check that the copy is the
official file, that offline resolution reads it, that a failed download falls back to it, and that
a built wheel carries it."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfif.cli import app
from selfif.config import DEFAULT_BENCHMARK
from selfif.eval.benchmark import PACKAGED_IFEVAL, load_benchmark

from conftest import REPO

SHARED_COPY = REPO.parent / "shared" / "benchmarks" / "ifeval_input_data.jsonl"
STORED = REPO / "results" / "ifeval" / "cpu-2h-s600b"  # 541 stored answers with their recorded figures


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.skipif(not SHARED_COPY.exists(), reason=f"no reference copy at {SHARED_COPY}")
def test_packaged_file_equals_the_reference_copy_row_for_row():
    ours, ref = _rows(PACKAGED_IFEVAL), _rows(SHARED_COPY)
    assert len(ours) == len(ref) == 541
    for i, (a, b) in enumerate(zip(ours, ref), 1):
        assert a == b, f"{PACKAGED_IFEVAL}:{i} differs from {SHARED_COPY}:{i}"


def test_packaged_file_has_its_license_notice():
    notice = (PACKAGED_IFEVAL.parent / "NOTICE").read_text(encoding="utf-8")
    assert "Apache License, Version 2.0" in notice and PACKAGED_IFEVAL.name in notice


def test_offline_default_benchmark_reads_the_packaged_file(caplog):
    from selfif.hub import offline

    assert offline(), "the suite runs with HF_HUB_OFFLINE=1 (tests/conftest.py)"
    with caplog.at_level(logging.INFO, logger="selfif.eval.benchmark"):
        rows = load_benchmark(DEFAULT_BENCHMARK)
    assert rows == load_benchmark(PACKAGED_IFEVAL)
    assert len(rows) == 541
    assert any(str(PACKAGED_IFEVAL) in r.getMessage() for r in caplog.records)


def test_score_with_the_default_benchmark_offline_reproduces_stored_figures(tmp_path):
    """The real CLI, no ``--benchmark``: the stored answers re-score to their recorded figures,
    which only the full official rows can give."""
    res = CliRunner().invoke(app, ["score", "ifeval", str(STORED / "responses.jsonl"), "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    got = json.loads((tmp_path / "scores.json").read_text())
    want = json.loads((STORED / "summary.json").read_text())
    assert got["n_missing"] == 0 and got["n_prompts"] == 541
    for key in ("prompt_level_strict", "prompt_level_loose", "instruction_level_strict", "instruction_level_loose"):
        assert got[key] == pytest.approx(want[key]), key


def test_other_hub_ids_still_fail_offline_naming_the_packaged_one(tmp_path):
    res = CliRunner().invoke(app, ["score", "ifeval", str(STORED / "responses.jsonl"),
                                   "--benchmark", "nobody/no-such-ifeval", "--out", str(tmp_path)])
    assert res.exit_code == 2
    last = res.output.strip().splitlines()[-1]
    assert last.startswith("error: nobody/no-such-ifeval: benchmark not found locally") and "google/IFEval (packaged)" in last


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # huggingface_hub retries a refused connection for ~20 s before it gives up
def test_a_failed_download_falls_back_to_the_packaged_file(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}",
           "HF_HOME": str(tmp_path / "hf")}
    code = ("from selfif.eval.benchmark import load_benchmark, PACKAGED_IFEVAL\n"
            "assert load_benchmark('google/IFEval', limit=5) == load_benchmark(PACKAGED_IFEVAL, limit=5)\n")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "reading its packaged copy" in res.stderr


@pytest.mark.slow
def test_packaged_rows_equal_the_hub_rows_where_the_hub_is_reachable():
    """Online only (the suite runs offline, so this skips there): the hub's rows, nulls dropped,
    are the packaged file's rows, in order."""
    from selfif.hub import offline

    if offline():
        pytest.skip("HF_HUB_OFFLINE=1: the hub is not asked")
    import datasets

    try:
        ds = datasets.load_dataset(DEFAULT_BENCHMARK, split="train")
    except Exception as e:  # noqa: BLE001 - any failure means the hub is not reachable here
        pytest.skip(f"{DEFAULT_BENCHMARK} not reachable: {str(e).splitlines()[0][:120]}")
    from selfif.eval.benchmark import BenchmarkRow

    hub_rows = [BenchmarkRow.model_validate(rec) for rec in ds]
    assert hub_rows == load_benchmark(PACKAGED_IFEVAL, check_ids=False)


def test_a_built_wheel_carries_the_benchmark_and_its_notice(tmp_path):
    """``pyproject.toml``'s package data, checked by building a wheel from a copy of the tree."""
    src = tmp_path / "tree"
    shutil.copytree(REPO / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                          "-q", "-w", str(tmp_path / "dist")], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("selfif-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        assert {"selfif/eval/data/ifeval_input_data.jsonl", "selfif/eval/data/NOTICE"} <= names
        assert z.read("selfif/eval/data/ifeval_input_data.jsonl") == PACKAGED_IFEVAL.read_bytes()
