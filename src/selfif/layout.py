"""Run-directory layout: every artifact file and folder name, defined once.

Stages write these names, the pipeline checks them, the report reads them, and users find
them in ``docs/artifacts.md``; each name lives here so that renaming one cannot leave a reader
looking for the old file. This module imports nothing from selfif, so any module may use it.

A pipeline run directory (``selfif run``)::

    config.json, manifest.json, report.md, ifeval_before_after.png
    seeds.jsonl, seeds.stats.json                 selfif seeds
    curriculum.jsonl, curriculum.stats.json       selfif synth
    heldout.jsonl                                 selfif synth, with synth.heldout.types (leave-types-out split)
    control_seeds.jsonl                           selfif synth, with synth.control.seeds (constraint-free control set)
    label/{responses,pairs}.jsonl, audit.json     selfif label --audit
    rm/{selfif_rm.json,metrics.json,...}          selfif train-rm
    eval-before/{scores.json,...}                 selfif eval ifeval (the starting policy)
    policy/{checkpoint-*,final,plots,train_summary.json}   selfif train
    eval-after/{scores.json,...}                  selfif eval ifeval (policy/final)
    heldout-{before,after}/{scores.json,...}      selfif eval ifeval -b heldout.jsonl (with synth.heldout.types)
    control-{before,after}/{scores.json,...}      selfif eval control control_seeds.jsonl (with synth.control.seeds)

plus, while a process writes, its lock (``.selfif.lock`` in the run and evaluation directories,
``.NAME.lock`` beside a file or checkpoint), and ``complete.json`` in each evaluation directory.
"""

from __future__ import annotations

from pathlib import Path

# --- pipeline bookkeeping (run_dir) ---
RUN_CONFIG = "config.json"  # the validated config the run used
MANIFEST = "manifest.json"  # per-stage status, config hash, timings, summaries
REPORT = "report.md"
BEFORE_AFTER_PNG = "ifeval_before_after.png"

# --- stage outputs ---
SEEDS = "seeds.jsonl"
CURRICULUM = "curriculum.jsonl"
HELDOUT = "heldout.jsonl"  # synth.heldout: prompts asking for the types left out of training (IFEval row format)
HELDOUT_BEFORE, HELDOUT_AFTER = "heldout-before", "heldout-after"  # its evaluations, as eval-before/eval-after
CONTROL_SEEDS = "control_seeds.jsonl"  # synth.control: seeds set aside, answered without constraints (seeds.jsonl rows)
CONTROL_BEFORE, CONTROL_AFTER = "control-before", "control-after"  # their evaluations (selfif eval control)
LABEL_DIR, RM_DIR, POLICY_DIR = "label", "rm", "policy"
EVAL_BEFORE, EVAL_AFTER = "eval-before", "eval-after"

# label/ (and eval-*/ for the responses)
RESPONSES = "responses.jsonl"
RESPONSES_PARTIAL = "responses.partial.jsonl"  # resumable generation, renamed to RESPONSES when complete
LABEL_META = "label.meta.json"  # what generated the label responses (resume must match it)
GENERATION_INFO = "generation.json"  # what generated the eval responses (resume must match it)
PAIRS = "pairs.jsonl"
AUDIT = "audit.json"

# rm/
RM_META = "selfif_rm.json"  # marks a directory as a selfif reward-model checkpoint
RM_METRICS = "metrics.json"
RM_RELIABILITY = "reliability.png"

# policy/
FINAL_DIR = "final"  # plain Hugging Face checkpoint of the trained policy
PLOTS_DIR = "plots"
TRAIN_SUMMARY = "train_summary.json"
CURRICULUM_STATE = "curriculum_state.json"  # per checkpoint-N/: the schedule's state, for resuming
GUIDANCE_LOG = "guidance.jsonl"  # guided GRPO: every replaced completion, original and repaired
WARMSTART_DATA = "warmstart.jsonl"  # repair-then-supervise warm-start: the repaired answers
WARMSTART_SUMMARY = "warmstart_summary.json"
WARMSTART_VALIDATION = "validation.jsonl"  # its greedy answers to trained and held-out-seed prompts (validation_seeds)

# eval-*/ and selfif score
SCORES = "scores.json"
EVAL_RESULTS_STRICT, EVAL_RESULTS_LOOSE = "eval_results_strict.jsonl", "eval_results_loose.jsonl"  # official per-row files
COMPARE, COMPARE_MD = "compare.json", "compare.md"  # selfif eval compare --out
EVAL_REPORT, PER_INSTRUCTION_PNG = "report.md", "per_instruction.png"
EVAL_OUTPUTS = (RESPONSES, EVAL_RESULTS_STRICT, EVAL_RESULTS_LOOSE, SCORES, EVAL_REPORT, PER_INSTRUCTION_PNG)
"""What one scoring writes into an evaluation directory, as one set (``selfif.io.output_set``)."""

# --- bookkeeping of outputs (selfif.io) ---
COMPLETE = "complete.json"
"""Completion record of a set of files written together (an evaluation directory): written last,
listing each file's size and digest; readers refuse a directory whose record says incomplete."""
LOCK = ".selfif.lock"
"""Lock file inside a directory a process writes in place (a run directory, an evaluation
directory); it holds the PID of the process that holds the lock."""


def lock_beside(path: Path) -> Path:
    """``out/seeds.jsonl`` -> ``out/.seeds.jsonl.lock``: the lock of an output that is replaced
    by a rename (a file, a reward-model directory), so it cannot live inside it."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


def stats_path(out: Path) -> Path:
    """``seeds.jsonl`` -> ``seeds.stats.json``: the statistics file written next to a JSONL output."""
    out = Path(out)
    return out.with_name(out.name.removesuffix(".jsonl") + ".stats.json")
