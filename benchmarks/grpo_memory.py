"""Resident memory of GRPO on a CPU, with glibc's default heap and with selfif's fixed mmap threshold.

Why: at cpu-2h's rollout shape the trainer's resident memory grows step after step. The growth is
freed tensors that glibc keeps in its heap (their sizes change with every step's completion
lengths, so the dynamic mmap threshold keeps rising and large blocks stop going back to the OS),
not live tensors. ``MALLOC_MMAP_THRESHOLD_`` fixes the threshold, so blocks of 1 MiB and more are
mmapped and returned on free; ``selfif.memory.limit_heap_retention`` sets the same through
``mallopt`` and the ``selfif`` CLI calls it at start. Each arm runs in its own child process, so
the default arm's heap is untouched.

Each arm runs the same GRPO steps (``benchmarks/grpo_step.py``'s curriculum and trainer, the
default precision and rollout path, completions stopping at EOS so lengths vary as in a real run)
in a child process; the parent samples the child's RSS every 0.2 s and reads its peak from
``wait4``. Printed per arm: mean step time (step 1 excluded), peak RSS, RSS at the end, and the
ratios of the second arm to the first, all measured in this run.

    python benchmarks/grpo_memory.py                          # cpu-2h's shape: 16 completions x 128 tokens, 8 steps
    python benchmarks/grpo_memory.py --steps 4 --completions 8
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARMS = {"glibc default": False, "limit_heap_retention()": True}  # arm -> call selfif's fix in the child


def child(ns: argparse.Namespace) -> None:
    """One arm: the GRPO steps, then one JSON line with the mean step time."""
    if ns.limit:
        from selfif.memory import limit_heap_retention

        assert limit_heap_retention(), "mallopt refused"
    sys.path.insert(0, str(HERE))
    import grpo_step  # the same curriculum, reward and trainer settings as the speed benchmark

    args = argparse.Namespace(model="smollm2-135m", steps=ns.steps, completions=ns.completions, num_generations=ns.num_generations,
                              max_completion_length=ns.max_completion_length, lr=1e-5, natural_length=True)
    from selfif.precision import resolve_precision

    mean = grpo_step.run(args, resolve_precision("auto", "cpu"))
    print("RESULT " + json.dumps({"step_s": mean["total"]}), flush=True)


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def arm(limit: bool, ns: argparse.Namespace) -> dict[str, float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, __file__, "--child", "--steps", str(ns.steps), "--completions", str(ns.completions),
           "--num-generations", str(ns.num_generations), "--max-completion-length", str(ns.max_completion_length), *(["--limit"] if limit else [])]
    with tempfile.TemporaryFile("w+") as log:  # a file, not a pipe: the child may print a lot
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        samples = []
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            samples.append(rss_kb(proc.pid))
            time.sleep(0.2)
        log.seek(0)
        text = log.read()
    if os.waitstatus_to_exitcode(status) != 0 or "RESULT " not in text:
        raise SystemExit(f"arm failed (exit {os.waitstatus_to_exitcode(status)}):\n{text[-3000:]}")
    result = json.loads(text.split("RESULT ", 1)[1].splitlines()[0])
    live = [s for s in samples if s]
    return {"step_s": result["step_s"], "peak_mb": usage.ru_maxrss / 1024, "end_mb": (live[-1] if live else 0) / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--completions", type=int, default=16, help="completions per step")
    ap.add_argument("--num-generations", type=int, default=4, help="GRPO group size (cpu-2h: 4)")
    ap.add_argument("--max-completion-length", type=int, default=128)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--limit", action="store_true", help=argparse.SUPPRESS)
    ns = ap.parse_args()
    if ns.child:
        return child(ns)
    print(f"{ns.steps} GRPO steps, {ns.completions} completions (group {ns.num_generations}), <= {ns.max_completion_length} "
          f"tokens, completions stop at EOS; one child process per arm, one after the other")
    res = {}
    for name, limit in ARMS.items():
        res[name] = arm(limit, ns)
        r = res[name]
        print(f"{name:34s} step {r['step_s']:6.2f} s   peak RSS {r['peak_mb']:7.0f} MB   RSS at end {r['end_mb']:7.0f} MB", flush=True)
    a, b = (res[k] for k in ARMS)
    print(f"ratios (limit_heap_retention / default): step time {b['step_s'] / a['step_s']:.2f}x, peak RSS {b['peak_mb'] / a['peak_mb']:.2f}x, "
          f"RSS at end {b['end_mb'] / max(a['end_mb'], 1):.2f}x")


if __name__ == "__main__":
    main()
