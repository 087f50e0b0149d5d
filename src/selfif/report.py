"""``report.md`` of a pipeline run: before/after IFEval, per-stage timings, and each stage's own numbers.

The report only *reads* artifacts the stages wrote (JSON files and PNGs), so it can be rebuilt at
any time; sections whose artifacts are missing say so instead of failing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from selfif.config import PipelineConfig
from selfif.io import atomic_write_text
from selfif.layout import (
    AUDIT, BEFORE_AFTER_PNG, CONTROL_AFTER, CONTROL_BEFORE, CONTROL_SEEDS, CURRICULUM, EVAL_AFTER, EVAL_BEFORE, HELDOUT_AFTER,
    HELDOUT_BEFORE, LABEL_DIR, MANIFEST, PLOTS_DIR, POLICY_DIR, REPORT, RM_DIR,
    RM_METRICS, RM_RELIABILITY, RUN_CONFIG, SCORES, SEEDS, TRAIN_SUMMARY, stats_path,
)


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def _f(x: Any, pct: bool = False) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{100 * x:.1f}" if pct else f"{x:.3f}"
    return str(x)


def _rss(rec: dict[str, Any]) -> str:
    """A stage's peak RSS cell: MB, ``*`` when it is the process's peak so far, children in brackets."""
    if rec.get("peak_rss_mb") is None:
        return "–"  # recorded before memory was measured, or the OS gives no figure
    cell = f"{rec['peak_rss_mb']:,}" + ("*" if rec.get("peak_rss_scope") != "stage" else "")
    return cell + (f" ({rec['children_peak_rss_mb']:,})" if rec.get("children_peak_rss_mb") else "")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def plot_before_after(before: dict, after: dict, path: Path) -> Path | None:
    """Grouped bars: strict accuracy per instruction id, before vs after."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ids = sorted(set(before.get("per_instruction", {})) | set(after.get("per_instruction", {})))
    if not ids:
        return None
    b = [before["per_instruction"].get(i, {}).get("strict", 0) for i in ids]
    a = [after["per_instruction"].get(i, {}).get("strict", 0) for i in ids]
    fig, ax = plt.subplots(figsize=(10, max(4, 0.28 * len(ids))))
    y = range(len(ids))
    ax.barh([v - 0.2 for v in y], b, height=0.4, label="before", color="#9aa7b8")
    ax.barh([v + 0.2 for v in y], a, height=0.4, label="after", color="#2b6cb0")
    ax.set_yticks(list(y), ids, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("instruction-level strict accuracy")
    ax.set_title("IFEval per instruction type, before vs after GRPO")
    ax.legend(loc="lower right")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


def _audit_section(audit: dict | None) -> str:
    if not audit:
        return "_no audit.json_"
    rows = []
    for tid, s in audit["per_type"].items():
        rows.append([f"`{tid}`", s["n_pos"] + s["n_neg"], _f(s["asked_pass_rate"]), _f(s["not_asked_pass_rate"]),
                     _f(s["pos_precision"]), _f(s["neg_precision"]), _f(s["accuracy"]), "near chance" if s.get("near_chance") else ""])
    o = audit["overall"]
    rows.append(["**all hard**", o["n_pos"] + o["n_neg"], _f(o["asked_pass_rate"]), _f(o["not_asked_pass_rate"]),
                 _f(o["pos_precision"]), _f(o["neg_precision"]), _f(o["accuracy"]), ""])
    head = ["type", "pairs", "pass when asked", "pass when not asked", "pos precision", "neg precision", "pair accuracy", "flag"]
    return (f"Pseudo-labels for hard constraints checked against the verifier (the method's key assumption). "
            f"{audit['n_hard_constraints']} hard and {audit['n_soft_constraints']} soft constraints; soft ones have no "
            f"verifier truth.\n\n" + _table(head, rows))


def _warmstart_section(warm: dict) -> str:
    """What the warm-start trained on and, with ``validation_seeds``, how its pass rate on held-out
    seeds compares with the prompts it trained on."""
    losses = " -> ".join(f"{x:.2f}" for x in warm.get("epoch_loss") or [])
    lines = [f"{warm.get('prompts')} prompts, {warm.get('answers')} answers {json.dumps(warm.get('status', {}))}, "
             f"{warm.get('examples')} examples, {warm.get('updates')} updates, loss per epoch {losses or '-'}."]
    types = warm.get("types") or {}
    if types.get("mode") == "auto":  # chosen from the label audit (selfif.rl.warmstart.auto_types)
        chosen = ", ".join(f"`{t}` {types['rates'][t]['asked_pass_rate']:.3f}" for t in types["chosen"])
        lines += ["", f"Types (auto: asked pass rate on the policy's own curriculum answers below {types['threshold']}, "
                      f"label audit): {chosen}."]
    val = warm.get("validation")
    if val:
        rows = []
        for name, label in (("trained", "prompts it trained on"), ("held_out", f"{val['seeds_held_out']} held-out seeds")):
            res = val[name]
            rows.append([label, f"{res['passed']}/{res['prompts']}", _f(res["pass_rate"], pct=True),
                         ", ".join(f"{t.split(':')[-1]} {c['passed']}/{c['prompts']}" for t, c in res["per_type"].items())])
        lines += ["", "Greedy pass rate after the fine-tune (every targeted constraint of the prompt):", "",
                  _table(["prompts", "passed", "pass %", "per type"], rows)]
    return "\n".join(lines)


def run_comparison(run: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(before/after deltas with paired bootstrap intervals, None) or (None, why not).

    Recomputed from the two evaluation directories: it is deterministic, so it equals
    ``eval-after/scores.json``'s ``comparison`` unless ``eval-before`` was rerun since.
    """
    from selfif.eval.bootstrap import compare_dirs
    from selfif.io import InputError

    try:
        return compare_dirs(run / EVAL_BEFORE, run / EVAL_AFTER), None
    except InputError as e:  # missing per-row files, or not the same prompts (ComparisonError)
        return None, str(e)


def delta_line(run: Path) -> str:
    """The last line ``selfif run`` prints: each IFEval delta with its interval, and whether any excludes zero."""
    from selfif.eval.report import delta_summary

    comparison, why = run_comparison(Path(run))
    if not comparison:
        return f"IFEval before/after: no comparison ({why})"
    after = _load(Path(run) / EVAL_AFTER / SCORES) or {}
    return delta_summary(comparison, (after.get("meta") or {}).get("instruction_types"))


def _paired_section(run: Path, before_dir: str, after_dir: str, title: str, intro: str):
    """The heading and intro of a before/after section, with both evaluations' scores; the lines
    already say "evaluation missing" when either side has not run yet."""
    parts = [f"## {title}", "", intro, ""]
    before, after = _load(run / before_dir / SCORES), _load(run / after_dir / SCORES)
    if not (before and after):
        parts += ["_evaluation missing (stage not run yet)_", ""]
    return parts, before, after


def _heldout_section(cfg: PipelineConfig, run: Path) -> list[str]:
    """The leave-types-out split (synth.heldout) before and after, with the paired intervals the
    after evaluation recorded; nothing when the run declares no split."""
    if not cfg.synth.heldout.types:
        return []
    parts, before, after = _paired_section(
        run, HELDOUT_BEFORE, HELDOUT_AFTER, "Held-out constraint types (never trained)",
        f"Prompts asking only for {', '.join(f'`{t}`' for t in sorted(cfg.synth.heldout.types))}, from seeds "
        "outside the curriculum, scored by the registry's verifiers.")
    if not (before and after):
        return parts
    from selfif.eval.report import compare_report

    return parts + [f"{before.get('n_prompts')} prompts.", "", compare_report(before, after, comparison=after.get("comparison")), ""]


def _control_section(cfg: PipelineConfig, run: Path) -> list[str]:
    """The constraint-free control set (synth.control) before and after: the answer-quality
    figures of each side and the paired differences with the intervals the after evaluation
    recorded; nothing when the run declares no control set."""
    if not cfg.synth.control.seeds:
        return []
    parts, before, after = _paired_section(
        run, CONTROL_BEFORE, CONTROL_AFTER, "Constraint-free control set",
        f"Seed prompts set aside from training (`{CONTROL_SEEDS}`, decontaminated like every seed), answered "
        "with no constraint; the answer-quality metrics only, after training paired against before.")
    if not (before and after):
        return parts
    from selfif.eval.report import pct, pp_interval, quality_comparison_lines

    def look(q: dict[str, Any]) -> str:
        rel = q.get("relevance")
        return (f"median {q['words']['median']:g} words, {q['looping']['looping']} of {q['answers']} end in a loop"
                + (f", relevance {rel['mean']:.3f}" if rel else ""))

    parts += [f"{after.get('n_prompts')} prompts. Before: {look(before['quality'])}. After: {look(after['quality'])}.", ""]
    comparison = after.get("comparison")
    if not comparison:
        return parts + ["_No intervals: the after evaluation was not paired with the before one._", ""]
    qc = comparison["quality"]
    loop = qc["looping"]
    return parts + [f"- **Loops**: {pct(loop['before'])} → {pct(loop['after'])} % of answers, {pp_interval(loop)}.",
                    *quality_comparison_lines(qc, comparison),
                    "", f"Intervals: {100 * comparison['confidence']:g} %, {comparison['method']} ({comparison['resamples']} resamples).", ""]


def write_report(cfg: PipelineConfig, run: Path) -> Path:
    run = Path(run)
    manifest = _load(run / MANIFEST) or {"stages": {}}
    before, after = _load(run / EVAL_BEFORE / SCORES), _load(run / EVAL_AFTER / SCORES)
    parts = [f"# selfif run report: `{cfg.model}`", "",
             f"Run directory `{run}`, written {time.strftime('%Y-%m-%d %H:%M:%S')}. Config: `{RUN_CONFIG}`.", ""]

    parts += ["## IFEval before and after", ""]
    if before and after:
        from selfif.eval.report import compare_report

        n = before.get("n_prompts")
        comparison, why = run_comparison(run)
        types = (after.get("meta") or {}).get("instruction_types")
        scope = f" (only the IFEval prompts asking for {', '.join(f'`{t}`' for t in types)})" if types else ""
        parts += [f"{n} prompts{scope}, decoding {json.dumps(before.get('meta', {}).get('generation', {}))}.", "",
                  *([] if comparison else [f"_No intervals: {why}_", ""]),
                  compare_report(before, after, comparison=comparison), ""]
        if plot_before_after(before, after, run / BEFORE_AFTER_PNG):
            parts += [f"![per-type before/after]({BEFORE_AFTER_PNG})", ""]
    else:
        parts += ["_evaluation missing (stage not run yet)_", ""]

    parts += _heldout_section(cfg, run)
    parts += _control_section(cfg, run)
    parts += ["## Stage wall-clock time and peak memory", ""]
    rows = [[name, rec.get("status", ""), f"{rec.get('seconds', 0):.0f}", _rss(rec)]
            for name, rec in manifest["stages"].items() if name != "report"]
    parts += [_table(["stage", "status", "seconds", "peak RSS (MB)"], rows), "",
              "Peak resident memory of the `selfif` process while the stage ran (`selfif.memory`: Linux's "
              "high-water mark, reset when the stage starts); `*`: the process's peak so far, where the "
              "mark could not be reset; in brackets, the largest child process it started (such as the scorer's "
              "forked workers, whose pages are largely shared with the main process), measured on its own.", ""]

    seeds = _load(stats_path(run / SEEDS))
    if seeds:
        from selfif.data.seeds import format_stats

        parts += ["## Seeds", "", "```", format_stats(seeds), "```", ""]
    synth = _load(stats_path(run / CURRICULUM))
    if synth:
        from selfif.data.synth import format_stats as synth_stats

        parts += ["## Curriculum (ours vs the paper)", "", "```", synth_stats(synth), "```", ""]

    parts += ["## Pseudo-label audit", "", _audit_section(_load(run / LABEL_DIR / AUDIT)), ""]

    rm = _load(run / RM_DIR / RM_METRICS)
    if rm:
        from selfif.reward.train import format_report

        parts += ["## Reward model", "", "```", format_report(rm), "```", ""]
        if (run / RM_DIR / RM_RELIABILITY).exists():
            parts += [f"![reliability]({RM_DIR}/{RM_RELIABILITY})", ""]

    summary = _load(run / POLICY_DIR / TRAIN_SUMMARY)
    if summary and summary.get("warmstart"):
        parts += ["## Warm-start (repair then supervise)", "", _warmstart_section(summary["warmstart"]), ""]
    if summary:
        keep = {k: v for k, v in summary.items() if not isinstance(v, (dict, list))}
        parts += ["## GRPO training", "", _table(["key", "value"], [[k, _f(v)] for k, v in keep.items()]), ""]
        per_level = summary.get("per_level") or {}
        if per_level:
            parts += [_table(["level", "mean reward", "final reward"],
                             [[lv, _f(s.get("mean")), _f(s.get("final"))] for lv, s in per_level.items()]), ""]
        for png in sorted((run / POLICY_DIR / PLOTS_DIR).glob("*.png")):
            parts += [f"![{png.stem}]({png.relative_to(run)})", ""]
    return atomic_write_text(run / REPORT, "\n".join(parts))
