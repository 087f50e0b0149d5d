"""Peak resident memory (RSS) of this process, measured per pipeline stage.

``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is the process's high-water mark over its whole
life, so read after the fifth stage it still shows the first stage's peak. Linux lets a process
reset that mark to its current RSS (write ``5`` to ``/proc/self/clear_refs``, Linux >= 4.0); the
mark read back after the stage (``VmHWM`` in ``/proc/self/status``) is then the peak of that stage
alone. Where the reset is refused (another OS, a locked-down ``/proc``) the reading is the
process's peak so far, and the record says so (``peak_rss_scope: "process"``) rather than passing
it off as the stage's.

Child processes (such as the IFEval scorer's forked workers) are measured apart: their largest
RSS is ``RUSAGE_CHILDREN``'s mark, which cannot be reset, so it is recorded only when a stage
raised it. A forked worker's pages are largely shared with this process (copy-on-write), so the
two figures do not simply add up.

A stage's objects can outlive it in reference cycles (a finished GRPO trainer still held half a
GB of tensors until the cycle collector ran), and the next stage would start with them resident;
:func:`stage_peak` therefore collects them when the stage ends.
"""

from __future__ import annotations

import gc
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
MB = 2**20


def _rusage_maxrss(who: str) -> int | None:
    """``ru_maxrss`` in bytes (kilobytes on Linux, bytes on macOS), or None without ``resource``."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    kb = resource.getrusage(getattr(resource, who)).ru_maxrss
    return kb if sys.platform == "darwin" else kb * 1024


def _status_kb(field: str) -> int | None:
    try:
        m = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(m.group(1)) * 1024 if m else None


def reset_peak() -> bool:
    """Reset this process's RSS high-water mark to its current RSS; False where the OS refuses."""
    try:
        _CLEAR_REFS.write_text("5")  # kernels before 4.0 refuse "5" (EINVAL)
    except OSError:
        return False
    return True


def peak_rss() -> int | None:
    """This process's RSS high-water mark in bytes (since the last :func:`reset_peak`)."""
    return _status_kb("VmHWM") or _rusage_maxrss("RUSAGE_SELF")


def current_rss() -> int | None:
    """This process's RSS now, in bytes."""
    return _status_kb("VmRSS")


@contextmanager
def stage_peak() -> Iterator[dict[str, Any]]:
    """Measure the block's peak RSS; the yielded dict is filled on exit (also when the block raises).

    Keys: ``peak_rss_mb`` (this process), ``peak_rss_scope`` (``stage``, or ``process`` where the
    mark could not be reset), ``start_rss_mb`` (RSS on entry: what earlier stages left behind) and,
    when forked children reached a new high, ``children_peak_rss_mb``. On exit the block's garbage
    cycles are collected, so they do not count against the next block.
    """
    rec: dict[str, Any] = {}
    children_before = _rusage_maxrss("RUSAGE_CHILDREN") or 0
    scoped = reset_peak()
    start = current_rss()
    try:
        yield rec
    finally:
        peak = peak_rss()
        if peak is not None:
            rec["peak_rss_mb"] = round(peak / MB)
            rec["peak_rss_scope"] = "stage" if scoped else "process"
        if start is not None:
            rec["start_rss_mb"] = round(start / MB)
        children = _rusage_maxrss("RUSAGE_CHILDREN") or 0
        if children > children_before:
            rec["children_peak_rss_mb"] = round(children / MB)
        gc.collect()


MMAP_THRESHOLD = 1 << 20
"""Allocations of at least this many bytes are mmapped and given back to the OS when freed."""

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)


def limit_heap_retention() -> bool:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD` for this process; True when applied.

    Why: GRPO frees and re-allocates tensors whose sizes change with every step's completion
    lengths. glibc's default threshold rises with each large block freed, so such blocks end up in
    the heap, which keeps them after they are freed: at cpu-2h's shape the trainer's resident memory
    grew step after step (5.2 -> 10.3 GB over 10 steps) with no tensor alive to account for it.
    A fixed threshold (the same as ``MALLOC_MMAP_THRESHOLD_=1048576`` at start-up) returns them;
    ``benchmarks/grpo_memory.py`` measures peak and end RSS and the step time with and without it.
    Allocation policy only: no computed value changes. A no-op (False) off glibc.
    """
    import ctypes
    import ctypes.util

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):  # musl and other libcs have no mallopt
        return False
