"""Human-readable views of IFEval scores: ``report.md``, ``per_instruction.png``, before/after tables.

Numbers are shown as percentages with one decimal (as papers report IFEval); ``scores.json``
keeps the exact fractions.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
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


def compare_report(before: Mapping[str, Any], after: Mapping[str, Any], labels: tuple[str, str] = ("before", "after")) -> str:
    """Markdown before/after table with deltas in percentage points (overall and per instruction id)."""
    b, a = labels
    overall = _table(
        ["Metric", b, a, "Δ (pp)"],
        [[name, pct(before.get(k)), pct(after.get(k)), _delta(before.get(k), after.get(k))] for k, name in OVERALL],
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
                _delta(vb.get("strict"), va.get("strict")),
                pct(vb.get("loose")),
                pct(va.get("loose")),
                _delta(vb.get("loose"), va.get("loose")),
                va.get("count", vb.get("count", 0)),
            ]
        )
    per_id = _table(["Instruction id", f"strict {b}", f"strict {a}", "Δ", f"loose {b}", f"loose {a}", "Δ", "Count"], rows)
    note = ""
    if before.get("n_prompts") != after.get("n_prompts"):
        note = f"\n\nNote: {b} scored {before.get('n_prompts')} prompts, {a} scored {after.get('n_prompts')}; deltas compare different sets.\n"
    return f"### Overall (%)\n\n{overall}\n\n### Per instruction id (%)\n\n{per_id}\n{note}"
