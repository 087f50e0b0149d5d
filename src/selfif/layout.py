"""Run-directory layout: every artifact file and folder name, defined once.

Stages write these names, the pipeline checks them, the report reads them, and users find
them in ``docs/artifacts.md``; each name lives here so that renaming one cannot leave a reader
looking for the old file. This module imports nothing from selfif, so any module may use it.

A pipeline run directory (``selfif run``)::

    config.json, manifest.json, report.md, ifeval_before_after.png
    seeds.jsonl, seeds.stats.json                 selfif seeds
    curriculum.jsonl, curriculum.stats.json       selfif synth
    label/{responses,pairs}.jsonl, audit.json     selfif label --audit
    rm/{selfif_rm.json,metrics.json,...}          selfif train-rm
    eval-before/{scores.json,...}                 selfif eval ifeval (the starting policy)
    policy/{checkpoint-*,final,plots,train_summary.json}   selfif train
    eval-after/{scores.json,...}                  selfif eval ifeval (policy/final)
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


def stats_path(out: Path) -> Path:
    """``seeds.jsonl`` -> ``seeds.stats.json``: the statistics file written next to a JSONL output."""
    out = Path(out)
    return out.with_name(out.name.removesuffix(".jsonl") + ".stats.json")
