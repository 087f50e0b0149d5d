"""Peak RSS per pipeline stage (selfif.memory): recorded in manifest.json and shown in report.md.

The stages here allocate real memory (bytes written one by one, so every page is touched), so the figures are
the kernel's, not ours.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest

from selfif.config import load_config
from selfif.memory import MB, current_rss, reset_peak, stage_peak
from selfif.pipeline import run_pipeline
from selfif.report import write_report
from selfif.stages import Stage

BIG = 300 * MB

needs_reset = pytest.mark.skipif(not reset_peak(), reason="this kernel cannot reset the RSS high-water mark")


def _alloc(n: int) -> int:
    block = b"\x01" * n  # every byte written, so every page resident (calloc'd zeros would not be)
    return len(block)


@needs_reset
def test_stage_peak_is_the_blocks_own_peak_not_the_process_lifetime():
    with stage_peak() as big:
        _alloc(BIG)
    with stage_peak() as small:
        _alloc(MB)
    assert big["peak_rss_scope"] == small["peak_rss_scope"] == "stage"
    assert big["peak_rss_mb"] >= big["start_rss_mb"] + 290
    # freed after the first block: the second one's peak is near its start, far below the first's
    assert small["peak_rss_mb"] < small["start_rss_mb"] + 100 < big["peak_rss_mb"]
    assert abs(small["start_rss_mb"] - current_rss() / MB) < 100


def test_a_failing_block_still_gets_its_peak():
    with pytest.raises(ValueError), stage_peak() as rec:
        _alloc(BIG)
        raise ValueError("stage broke")
    assert rec["peak_rss_mb"] >= 300


@needs_reset
def test_manifest_and_report_carry_each_stages_peak(tmp_path):
    def make(name: str, size: int):
        def run(cfg, run_dir: Path):
            _alloc(size)
            (run_dir / f"{name}.txt").write_text(name)
            return {}
        return run

    stages = [Stage("big", ("seeds",), (), ("big.txt",), make("big", BIG)),
              Stage("small", ("synth",), ("big",), ("small.txt",), make("small", MB))]
    cfg = load_config(None, [f"run_dir={tmp_path}"])
    run_pipeline(cfg, stages)
    recs = json.loads((tmp_path / "manifest.json").read_text())["stages"]
    assert recs["big"]["peak_rss_mb"] - recs["big"]["start_rss_mb"] >= 290
    assert recs["small"]["peak_rss_mb"] < recs["big"]["peak_rss_mb"] - 200
    assert recs["big"]["peak_rss_scope"] == "stage"

    report = write_report(cfg, tmp_path).read_text()
    assert "| stage | status | seconds | peak RSS (MB) |" in report
    row = next(line for line in report.splitlines() if line.startswith("| big |"))
    assert row.rstrip(" |").endswith(f"{recs['big']['peak_rss_mb']:,}")


@needs_reset
def test_what_a_stage_leaves_in_reference_cycles_is_freed_before_the_next():
    """A trainer-like object graph with a cycle: without a collection its memory would stay resident."""
    was_enabled = gc.isenabled()
    gc.disable()  # as between two automatic collections
    try:
        base = current_rss() / MB
        with stage_peak():
            node: dict = {"blob": b"\x01" * BIG}
            node["self"] = node  # a cycle: reference counting alone never frees it
            del node
        with stage_peak() as after:
            pass
    finally:
        if was_enabled:
            gc.enable()
    assert after["start_rss_mb"] < base + 100  # the 300 MB cycle is gone before the next stage starts



HEAP_PROBE = r'''
import sys
from pathlib import Path
if sys.argv[1] == "limit":
    from selfif.memory import limit_heap_retention
    assert limit_heap_retention()
a = bytearray(8 << 20); del a  # freeing an 8 MiB mmapped block raises glibc's dynamic threshold to 8 MiB
keep, blocks = [], []
for _ in range(40):  # 240 MiB in 6 MiB blocks, each followed by a small malloc'd object that pins the heap above it
    blocks.append(bytearray(6 << 20)); keep.append(bytearray(4096))
del blocks
print(next(int(l.split()[1]) // 1024 for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmRSS:")))
'''


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_limit_heap_retention_gives_freed_blocks_back(tmp_path):
    """The growth GRPO showed, in miniature: large blocks freed after the dynamic threshold rose
    stay resident by default, and go back to the OS once selfif fixes the threshold."""
    probe = tmp_path / "heap_probe.py"
    probe.write_text(HEAP_PROBE)
    rss = {arm: int(subprocess.run([sys.executable, str(probe), arm], capture_output=True, text=True, check=True).stdout)
           for arm in ("default", "limit")}
    assert rss["default"] > 200, rss  # the 240 MiB freed stayed in the heap
    assert rss["limit"] < rss["default"] - 150, rss
