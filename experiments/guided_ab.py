"""A/B of guided exploration (repairs for the types the base policy never follows) at equal GRPO
steps: baseline vs guided GRPO vs warm-start vs both.

Figures it produced (docs/experiments.md, "The A/B of repairs at cpu-2h scale" and "The dose, swept
at demo scale"): on full IFEval (541 prompts, greedy, 512 tokens; 2026-11-27) prompt-level strict
18.9 -> 24.2 % for the baseline, 25.3 % warm-start only, 24.8 % guided only and 28.5 % for both
(+9.6 pp [+5.9, +13.1]); "both" beat the baseline by +4.3 pp [+0.6, +7.9], which made "both" what
``configs/cpu-2h.yaml`` runs. With ``--preset configs/demo-cpu.yaml`` it ran the demo-scale dose
sweep (warm-start lr 1e-5 instead of 5e-5: -15.4 pp [-25.6, -6.4] on the demo's 78 prompts).

Each arm is ``selfif run PRESET --run-dir OUT/ARM --set ...``. The first arm runs the whole
pipeline; every later arm starts from a copy of the first arm's upstream stages (seeds,
curriculum, labels, RM, eval-before, and their manifest records), so the pipeline's manifest
skips them and only ``train``, ``eval-after`` and ``report`` run again: the arms differ in
nothing but their ``--set`` overrides. All arms run the same GRPO steps; the table reports the
measured GRPO wall-clock of each (so "equal wall-clock" is checked, not assumed: guidance only
swaps texts, the warm-start's own time is reported separately), IFEval deltas with their paired
bootstrap 95 % intervals, the on-policy pass rate of the first and last quarter of training,
and the per-type IFEval scores of the types the base policy never follows.

Runs for hours on 2 CPU cores (measured 2026-11-27 on a 2-core AMD EPYC, bf16: GRPO 38 s/step
without repairs, 43 s with them, so ~60 min per arm; the warm-start ~33 min; a full IFEval pass ~24 min;
re-run on the current code: GRPO 34.6 s/step with repairs, a full IFEval pass 8-12 min with OpenVINO at fp32).
Commands (offline, the default benchmark is read from the IFEval copy packaged with selfif):

    python experiments/guided_ab.py --out runs/ab                         # the four arms
    python experiments/guided_ab.py --out runs/ab --arms baseline guided \\
        --arm guided-k2=train.guidance=repair,train.guidance_per_group=2  # add a dose arm
    python experiments/guided_ab.py --out runs/ab --table-only            # re-print the table
    python experiments/guided_ab.py --out runs/ab --parallel 4            # arms side by side (one GPU)

With ``--parallel N`` the first arm runs up to ``eval-before`` alone, then N arms train and
evaluate at once, each logging to ``OUT/ARM.log``: on a GPU the 135M policy leaves it mostly idle,
so four arms take little longer than one. Their GRPO wall-clocks are then not comparable with
each other's serial figures (the table still prints them), only their steps are equal.

Every arm counts a truncated rollout as failing its end-dependent constraints
(``train.truncated_fails_end_constraints=true``, the completion-cap choice measured by
``experiments/completion_cap.py``, see ``selfif.rl.truncation``; ``--no-truncation-rule`` turns it off). Further overrides for every arm
go with ``--set``.
The table is printed and written to ``OUT/ab_table.md`` (and ``OUT/ab_results.json``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

# IFEval types the base policy (almost) never follows: the ones guidance is for
STUCK = ["change_case:english_lowercase", "change_case:english_capital", "combination:repeat_prompt",
         "combination:two_responses", "length_constraints:nth_paragraph_first_word", "startend:quotation",
         "length_constraints:number_paragraphs", "detectable_format:number_bullet_lists"]  # fmt: skip
# The warm-start answers only the curriculum prompts that ask for a stuck type (194 of cpu-2h's 442
# rows), 3 samples each at <= 160 tokens; about half run past the cap and are dropped, most of the
# rest repair. 3 epochs at 3e-5 is the dose that took the 4-type subset from 0.0 to 17.4
# (configs/warmstart-4types.yaml: 219 targets). Sweep it with --arm (e.g. samples_per_prompt=1,
# epochs=2, learning_rate=1e-5: the dose of the first warm-start probe).
WARM = ["train.warmstart.enabled=true", f"train.warmstart.types=[{','.join(STUCK)}]", "train.warmstart.n_prompts=384",
        "train.warmstart.samples_per_prompt=3", "train.warmstart.epochs=3", "train.warmstart.learning_rate=3e-5",
        "train.warmstart.batch_size=8"]  # fmt: skip
GUIDED = ["train.guidance=repair", "train.guidance_per_group=1"]
# Every arm states both switches: configs/cpu-2h.yaml itself now is the "both" arm (the winner).
NO_WARM, NO_GUIDED = ["train.warmstart={}"], ["train.guidance=none"]  # {}: every warm-start field at its default (off)
ARMS: dict[str, list[str]] = {"baseline": NO_GUIDED + NO_WARM, "guided": GUIDED + NO_WARM, "warmstart": NO_GUIDED + NO_WARM + WARM,
                              "both": GUIDED + NO_WARM + WARM}  # fmt: skip
COMMON = ["train.truncated_fails_end_constraints=true"]
DOWNSTREAM = ("policy", "eval-after", "report.md")  # rerun in every arm (train and what follows it)


def seed_arm(first: Path, arm: Path) -> None:
    """Copy the first arm's upstream stages into a new arm directory (not what training produces)."""
    if arm.exists() or not (first / "manifest.json").exists():
        return
    shutil.copytree(first, arm, ignore=lambda d, names: [n for n in names if Path(d) == first and n in DOWNSTREAM])
    manifest = json.loads((arm / "manifest.json").read_text())
    for name in ("train", "eval-after", "report"):
        manifest["stages"].pop(name, None)
    (arm / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def arm_command(preset: str, arm: Path, overrides: list[str], *extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "selfif", "run", preset, "--run-dir", str(arm), *extra]
    return cmd + [x for o in overrides for x in ("--set", o)]


def run_arm(preset: str, arm: Path, overrides: list[str], *extra: str) -> int:
    cmd = arm_command(preset, arm, overrides, *extra)
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd)


def run_parallel(preset: str, out: Path, arms: dict[str, list[str]], common: list[str], width: int) -> None:
    """Upstream stages once (first arm, up to eval-before), then ``width`` arms at a time."""
    names = list(arms)
    if run_arm(preset, out / names[0], common + arms[names[0]], "--until", "eval-before") != 0:
        sys.exit(f"upstream stages of arm {names[0]} failed; rerun the same command to resume them")
    for name in names[1:]:
        seed_arm(out / names[0], out / name)
    running: list[tuple[str, subprocess.Popen, object]] = []
    pending = list(names)
    while pending or running:
        while pending and len(running) < width:
            name = pending.pop(0)
            log = open(out / f"{name}.log", "a")
            cmd = arm_command(preset, out / name, common + arms[name])
            print("+", " ".join(cmd), f"> {out / name}.log", flush=True)
            running.append((name, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log))
        name, proc, log = running.pop(0)
        rc = proc.wait()
        log.close()
        print(f"arm {name} finished (exit {rc})" + ("" if rc == 0 else f"; see {out / name}.log, rerun to resume"), flush=True)


def collect(arm: Path) -> dict:
    """One table row from an arm's run directory (missing pieces stay None)."""
    from selfif.report import run_comparison

    row: dict = {"arm": arm.name}
    summary_path = arm / "policy" / "train_summary.json"
    if summary_path.exists():
        s = json.loads(summary_path.read_text())
        onp = (s.get("onpolicy_pass") or {}).get("all") or {}
        warm = s.get("warmstart") or {}
        row.update(steps=s.get("global_step"), grpo_s=s.get("train_runtime_s"), warm_s=warm.get("wall_s"),
                   warm_examples=warm.get("examples"), guided_share=s.get("guidance_share_mean"),
                   onpolicy_first=onp.get("first"), onpolicy_last=onp.get("last"))  # fmt: skip
    comparison, why = run_comparison(arm)
    if comparison:
        row["overall"] = comparison["overall"]
        row["stuck"] = {t: comparison["per_instruction"][t]["strict"] for t in STUCK if t in comparison["per_instruction"]}
    else:
        row["why_no_eval"] = why
    return row


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def _ci(e) -> str:
    if not e:
        return "-"
    return f"{100 * e['after']:.1f} ({100 * e['delta']:+.1f} [{100 * e['low']:+.1f}, {100 * e['high']:+.1f}])"


def table(rows: list[dict]) -> str:
    head = ["arm", "GRPO steps", "GRPO s", "warm-start s (examples)", "guided share", "on-policy pass first -> last",
            "prompt strict (delta [95 % CI])", "instruction strict (delta [95 % CI])"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        o = r.get("overall") or {}
        warm = "-" if r.get("warm_s") is None else f"{r['warm_s']:.0f} ({r.get('warm_examples')})"
        lines.append("| " + " | ".join([
            r["arm"], str(r.get("steps", "-")), "-" if r.get("grpo_s") is None else f"{r['grpo_s']:.0f}", warm,
            _pct(r.get("guided_share")), f"{_pct(r.get('onpolicy_first'))} -> {_pct(r.get('onpolicy_last'))}",
            _ci(o.get("prompt_level_strict")), _ci(o.get("instruction_level_strict")),
        ]) + " |")  # fmt: skip
    lines += ["", "Per type, IFEval strict after training (delta vs before, 95 % CI), types the base policy never follows:", ""]
    lines += ["| type | " + " | ".join(r["arm"] for r in rows) + " |", "|" + "---|" * (len(rows) + 1)]
    for t in STUCK:
        lines.append(f"| `{t}` | " + " | ".join(_ci((r.get("stuck") or {}).get(t)) for r in rows) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="configs/cpu-2h.yaml")
    ap.add_argument("--out", default="runs/ab")
    ap.add_argument("--arms", nargs="+", default=list(ARMS), help="built-in arms to run, in order (the first runs everything)")
    ap.add_argument("--arm", action="append", default=[], metavar="NAME=K=V,K=V", help="an extra arm with its overrides")
    ap.add_argument("--set", dest="common", action="append", default=[], help="override for every arm")
    ap.add_argument("--benchmark", help="an IFEval input_data.jsonl to use instead of the default google/IFEval (same as --set eval.benchmark=FILE)")
    ap.add_argument("--no-truncation-rule", action="store_true", help="judge truncated rollouts like finished ones")
    ap.add_argument("--table-only", action="store_true", help="only collect and print the table")
    ap.add_argument("--parallel", type=int, default=1, metavar="N", help="run N arms at once after the shared upstream stages")
    args = ap.parse_args()

    arms = {name: ARMS[name] for name in args.arms}
    for spec in args.arm:
        name, _, sets = spec.partition("=")
        arms[name] = [s for s in sets.split(",") if s]
    out = Path(args.out)
    common = ([] if args.no_truncation_rule else COMMON) + args.common
    if args.benchmark:
        common.append(f"eval.benchmark={args.benchmark}")
    names = list(arms)
    if not args.table_only and args.parallel > 1:
        out.mkdir(parents=True, exist_ok=True)
        run_parallel(args.preset, out, arms, common, args.parallel)
    elif not args.table_only:
        for name in names:
            seed_arm(out / names[0], out / name)
            rc = run_arm(args.preset, out / name, common + arms[name])
            if rc != 0:
                print(f"arm {name} failed (exit {rc}); rerun the same command to resume it", file=sys.stderr)
    rows = [collect(out / name) for name in names if (out / name).exists()]
    text = table(rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ab_table.md").write_text(text + "\n")
    (out / "ab_results.json").write_text(json.dumps({"arms": arms, "common": common, "rows": rows}, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
