"""Human-readable views of IFEval scores: ``report.md``, ``per_instruction.png``, before/after tables.

Numbers are shown as percentages with one decimal (as papers report IFEval); ``scores.json``
keeps the exact fractions.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from selfif.io import atomic_write_bytes

OVERALL = (
    ("prompt_level_strict", "Prompt-level strict"),
    ("prompt_level_loose", "Prompt-level loose"),
    ("instruction_level_strict", "Instruction-level strict"),
    ("instruction_level_loose", "Instruction-level loose"),
)


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _delta(a: float | None, b: float | None) -> str:
    return "–" if a is None or b is None else f"{100 * (b - a):+.1f}"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    align = ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def render_report(scores: Mapping[str, Any], title: str = "IFEval results") -> str:
    """Markdown report: overall four numbers, per-category and per-instruction-id tables, problems."""
    out = [f"# {title}", ""]
    meta = scores.get("meta") or {}
    if meta:
        bits = [f"{k}: `{v}`" for k, v in meta.items() if k in ("model", "responses", "benchmark", "limit") and v is not None]
        gen = meta.get("generation")
        if gen:
            bits.append("generation: " + ", ".join(f"{k}={v}" for k, v in gen.items()))
        out += ["; ".join(bits), ""]
    out += [
        f"{scores['n_prompts']} prompts, {scores.get('n_instructions', '?')} instructions. Accuracy in %.",
        "",
        "## Overall",
        "",
        _table(["Metric", "Accuracy"], [[name, pct(scores[k])] for k, name in OVERALL]),
        "",
        *_looping_lines(scores.get("looping")),
        *quality_lines(scores.get("quality")),
        "## Per category (instruction-level)",
        "",
        _table(
            ["Category", "Strict", "Loose", "Count"],
            [[c, pct(v["strict"]), pct(v["loose"]), v["count"]] for c, v in sorted(scores["per_category"].items())],
        ),
        "",
        "## Per instruction id (sorted by strict accuracy, then id)",
        "",
        _table(
            ["Instruction id", "Strict", "Loose", "Count"],
            [
                [f"`{i}`", pct(v["strict"]), pct(v["loose"]), v["count"]]
                for i, v in sorted(scores["per_instruction"].items(), key=lambda kv: (-kv[1]["strict"], kv[0]))
            ],
        ),
        "",
    ]
    if scores.get("comparison"):
        c = scores["comparison"]
        out += [f"## Against the baseline `{c['before']}`", "", _comparison_section(c)]
    if scores.get("n_missing"):
        out += [
            "## Missing responses",
            "",
            f"{scores['n_missing']} benchmark prompts had no response and are not scored "
            f"(keys: {', '.join(map(str, scores['missing_keys'][:20]))}{' …' if scores['n_missing'] > 20 else ''}).",
            "",
        ]
    if scores.get("n_errors"):
        out += [
            "## Verifier errors (counted as not followed)",
            "",
            _table(
                ["Row key", "Instruction id", "Error"],
                [[e["key"], f"`{e['instruction_id']}`", e["error"].replace("|", "\\|")] for e in scores["errors"]],
            ),
            "",
        ]
    return "\n".join(out)


def _looping_lines(looping: Mapping[str, Any] | None) -> list[str]:
    """The report's line on answers ending in a repetition loop (selfif.repetition); none for old scores."""
    if not looping or not looping.get("answers"):
        return []
    line = f"Answers ending in a repetition loop: {looping['looping']} of {looping['answers']} ({pct(looping['share'])} %)"
    if looping["looping"] and looping["prompt_strict_other"] is not None:
        line += (f"; prompt-level strict {pct(looping['prompt_strict_looping'])} % among them, "
                 f"{pct(looping['prompt_strict_other'])} % among the others")
    return [line + f" ({looping['definition']}).", ""]


def quality_lines(q: Mapping[str, Any] | None) -> list[str]:
    """The report's answer-quality section (:mod:`selfif.eval.quality`); none for old scores."""
    if not q or not q.get("answers"):
        return []
    rel = q.get("relevance")
    cp = q["copying"]
    lines = [
        "## What the answers look like",
        "",
        f"Median answer {q['words']['median']:g} words; {q['looping']['looping']} of {q['answers']} end in a loop"
        + (f"; {cp['copying']} of {cp['prompts']} answers to constrained prompts copy constraint wording" if cp["prompts"] else "")
        + (f"; relevance to the task {rel['mean']:.3f} (mean cosine, {rel['encoder']})." if rel else "."),
        "",
        "Formats shown where the prompt did not ask for them:",
        "",
        _table(["Format", "Shown", "Unasked prompts", "%"],
               [[f, v["shown"], v["unasked"], pct(v["share"])] for f, v in q["bleed"].items()]),
        "",
    ]
    for ex in cp.get("examples") or []:
        lines.append(f"- copied {', '.join(f'`{p}`' for p in ex['phrases'])} answering “{(ex['prompt'] or '')[:60]}…”")
    return lines + ([""] if cp.get("examples") else [])


def quality_comparison_lines(qc: Mapping[str, Any], c: Mapping[str, Any]) -> list[str]:
    """Bullet lines of the paired answer-quality differences (``comparison["quality"]``)."""
    def words(e: Mapping[str, Any]) -> str:
        return (f"{round(e['before'], 1):g} → {round(e['after'], 1):g} words, {round(e['delta'], 1):+g} "
                f"[{round(e['low'], 1):+g}, {round(e['high'], 1):+g}]")

    lr = qc["length_ratio"]
    lines = [f"- **Answer length** (median): {words(qc['words_median'])}; median per-prompt ratio to the baseline's answer "
             f"{lr['median']:.2f} [{lr['low']:.2f}, {lr['high']:.2f}]."]
    if qc["copying"]["before"] is not None:  # None: no prompt with constraints (a control set)
        lines.append(f"- **Instruction copying**: {pct(qc['copying']['before'])} → {pct(qc['copying']['after'])} % of answers, "
                     f"{pp_interval(qc['copying'])}: {noise_verdict(qc['copying'], c, up='more copying', down='less copying')}.")
    if qc.get("relevance"):
        r = qc["relevance"]
        lines.append(f"- **Relevance to the task** (mean cosine): {r['before']:.3f} → {r['after']:.3f}, "
                     f"{r['delta']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}]"
                     + (": the interval excludes zero." if r["excludes_zero"] else "."))
    moved = [f"{f} {pct(e['before'])} → {pct(e['after'])} % ({pp_interval(e)})" for f, e in qc["bleed"].items() if e["excludes_zero"]]
    lines.append("- **Unasked formats** whose share moved beyond noise: " + ("; ".join(moved) if moved else "none") + ".")
    return lines


def plot_per_instruction(scores: Mapping[str, Any], path: str | Path) -> Path:
    """Horizontal bar chart of strict vs loose accuracy per instruction id, written atomically as PNG."""
    from matplotlib.figure import Figure  # Figure renders with Agg; no pyplot, no display needed

    items = sorted(scores["per_instruction"].items(), key=lambda kv: (kv[1]["strict"], kv[0]))
    labels = [f"{i} (n={v['count']})" for i, v in items]
    strict = [100 * v["strict"] for _, v in items]
    loose = [100 * v["loose"] for _, v in items]
    height = max(2.5, 0.32 * len(items) + 1.2)
    fig = Figure(figsize=(9, height))
    ax = fig.add_subplot()
    ys = range(len(items))
    ax.barh([y + 0.2 for y in ys], strict, height=0.4, label="strict", color="#3b6ea8")
    ax.barh([y - 0.2 for y in ys], loose, height=0.4, label="loose", color="#e39c37")
    ax.set_yticks(list(ys), labels, fontsize=8)
    ax.set_xlim(0, 100)
    ax.set_xlabel("instruction-level accuracy (%)")
    ax.set_title(
        f"IFEval per instruction — prompt-level strict {pct(scores['prompt_level_strict'])}%, "
        f"loose {pct(scores['prompt_level_loose'])}%",
        fontsize=10,
    )
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return atomic_write_bytes(path, buf.getvalue())


def pp_interval(entry: Mapping[str, Any]) -> str:
    """A delta with its interval in percentage points, e.g. ``+4.8 pp [+1.9, +7.6]``."""
    if entry["delta"] is None:
        return "–"
    if entry["low"] is None:
        return f"{100 * entry['delta']:+.1f} pp [–]"
    return f"{100 * entry['delta']:+.1f} pp [{100 * entry['low']:+.1f}, {100 * entry['high']:+.1f}]"


def _level(comparison: Mapping[str, Any]) -> str:
    return f"{100 * comparison['confidence']:g} %"


def noise_verdict(entry: Mapping[str, Any], comparison: Mapping[str, Any], up: str = "gain", down: str = "loss") -> str:
    """Plain words for one delta: does its interval exclude zero? ``up``/``down`` name a rise and
    a fall: a rise in accuracy is a gain, a rise in a fault (instruction copying) is not."""
    if entry["excludes_zero"]:
        return f"{up if entry['delta'] > 0 else down}: the {_level(comparison)} interval excludes zero"
    return f"no effect distinguishable from noise at {_level(comparison)}"


def _short(name: str) -> str:
    return name.replace("-level", "").lower()


def delta_summary(comparison: Mapping[str, Any], instruction_types: Sequence[str] | None = None) -> str:
    """One line for a terminal: every overall delta with its interval, then which ones exclude zero.

    ``instruction_types``: the evaluation kept only prompts asking for these ids (``eval.instruction_types``);
    the line says so, since such a figure is not a full-benchmark one.
    """
    ov = comparison["overall"]
    parts = [f"{_short(name)} {pct(ov[k]['before'])} -> {pct(ov[k]['after'])} ({pp_interval(ov[k])})" for k, name in OVERALL]
    sig = [_short(name) for k, name in OVERALL if ov[k]["excludes_zero"]]
    tail = f"interval excludes zero for {', '.join(sig)}" if sig else f"no effect distinguishable from noise at {_level(comparison)}"
    scope = f" (only those asking for {', '.join(instruction_types)})" if instruction_types else ""
    return (f"IFEval after vs before, {comparison['n_prompts']} prompts{scope}, {_level(comparison)} paired bootstrap: "
            + "; ".join(parts) + f" -- {tail}")


def _comparison_section(c: Mapping[str, Any]) -> str:
    ov = c["overall"]
    lines = [
        f"Intervals: {_level(c)} paired bootstrap over the {c['n_prompts']} prompts (instructions resampled with their "
        f"prompt), {c['resamples']} resamples, seed {c['seed']}.",
        "",
    ]
    lines += [f"- **{name}**: {pct(ov[k]['before'])} → {pct(ov[k]['after'])}, {pp_interval(ov[k])}: {noise_verdict(ov[k], c)}."
              for k, name in OVERALL]
    if c.get("looping"):
        lp = c["looping"]
        lines.append(f"- Answers ending in a repetition loop (a diagnostic, not a score): {pct(lp['before'])} → "
                     f"{pct(lp['after'])} %, {pp_interval(lp)}.")
    if c.get("quality"):
        lines += quality_comparison_lines(c["quality"], c)
    out = "\n".join(lines) + "\n\n"
    if c.get("quality"):
        rows = [[f"`{f}`", e["unasked"], pct(e["before"]), pct(e["after"]), pp_interval(e)] for f, e in c["quality"]["bleed"].items()]
        out += ("Formats shown where the prompt did not ask for them (%):\n\n"
                + _table(["Format", "Unasked prompts", "before", "after", f"Δ [{_level(c)} CI]"], rows) + "\n\n")
    return out


def compare_report(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    labels: tuple[str, str] = ("before", "after"),
    comparison: Mapping[str, Any] | None = None,
) -> str:
    """Markdown before/after table with deltas in percentage points (overall and per instruction id).

    With ``comparison`` (:func:`selfif.eval.bootstrap.paired_bootstrap`) every delta carries its
    interval and the overall deltas get a plain verdict, so a reader never mistakes noise for a gain.
    """
    b, a = labels
    ov = (comparison or {}).get("overall", {})
    per_ci = (comparison or {}).get("per_instruction", {})

    def d(vb: Any, va: Any, entry: Mapping[str, Any] | None) -> str:
        return pp_interval(entry) if entry else _delta(vb, va)

    head = "Δ (pp)" if not comparison else f"Δ (pp) [{_level(comparison)} CI]"
    overall = _table(
        ["Metric", b, a, head],
        [[name, pct(before.get(k)), pct(after.get(k)), d(before.get(k), after.get(k), ov.get(k))] for k, name in OVERALL],
    )
    ids = sorted(set(before.get("per_instruction", {})) | set(after.get("per_instruction", {})))
    rows = []
    for i in ids:
        vb = before.get("per_instruction", {}).get(i, {})
        va = after.get("per_instruction", {}).get(i, {})
        rows.append(
            [
                f"`{i}`",
                pct(vb.get("strict")),
                pct(va.get("strict")),
                d(vb.get("strict"), va.get("strict"), per_ci.get(i, {}).get("strict")),
                pct(vb.get("loose")),
                pct(va.get("loose")),
                d(vb.get("loose"), va.get("loose"), per_ci.get(i, {}).get("loose")),
                va.get("count", vb.get("count", 0)),
            ]
        )
    per_id = _table(["Instruction id", f"strict {b}", f"strict {a}", "Δ", f"loose {b}", f"loose {a}", "Δ", "Count"], rows)
    note = ""
    if before.get("n_prompts") != after.get("n_prompts"):
        note = f"\n\nNote: {b} scored {before.get('n_prompts')} prompts, {a} scored {after.get('n_prompts')}; deltas compare different sets.\n"
    verdicts = _comparison_section(comparison) if comparison else ""
    return f"### Overall (%)\n\n{verdicts}{overall}\n\n### Per instruction id (%)\n\n{per_id}\n{note}"
