"""The label stage's API (``selfif label`` and ``selfif run`` both call :func:`run_label`).

Responses per level -> contrast pseudo-label pairs -> optional audit. Kept outside the CLI module
so that the pipeline and tests call it without typer; progress goes to ``logging``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from selfif.io import check_inputs_survive, exclusive_lock
from selfif.layout import AUDIT, LABEL_META, PAIRS, RESPONSES, RESPONSES_PARTIAL

log = logging.getLogger(__name__)


def run_label(
    curriculum: Path, out_dir: Path, model: str, gen, hard_labels: str, *, do_audit: bool, audit_only: bool,
    restart: bool = False, max_batches: int | None = None, generator=None, precision: str | None = None,
    repair_positives: bool = False,
) -> dict:
    """The whole stage; returns a summary dict (also what the pipeline records in its manifest).

    The curriculum is read and every row's constraints validated before any model is loaded.
    No output may replace the curriculum (``--curriculum X/pairs.jsonl --out X`` is refused
    before anything is generated), and one process at a time writes ``out_dir`` (its
    ``.selfif.lock``): two labelers appending to one partial file would mix their responses.
    """
    out_dir = Path(out_dir)
    check_inputs_survive([out_dir / n for n in (RESPONSES, RESPONSES_PARTIAL, LABEL_META, PAIRS, AUDIT)], [curriculum])
    with exclusive_lock(out_dir, inside=True):
        return _run_label(curriculum, out_dir, model, gen, hard_labels, do_audit=do_audit, audit_only=audit_only,
                          restart=restart, max_batches=max_batches, generator=generator, precision=precision,
                          repair_positives=repair_positives)


def _run_label(curriculum: Path, out_dir: Path, model: str, gen, hard_labels: str, *, do_audit: bool, audit_only: bool,
               restart: bool, max_batches: int | None, generator, precision: str | None, repair_positives: bool) -> dict:
    """:func:`run_label`'s body, run while the caller holds the lock of ``out_dir``."""
    from selfif.io import read_jsonl, write_jsonl
    from selfif.labeling.audit import audit, render_table, write_audit
    from selfif.labeling.label import ResponseRow, generate_responses, read_curriculum
    from selfif.labeling.pairs import build_pairs

    rows = read_curriculum(curriculum)  # validates ids and kwargs (file:line) before any model loads
    summary: dict = {}
    if not audit_only:
        run = generate_responses(curriculum, out_dir, model, gen, restart=restart, max_batches=max_batches,
                                 generator=generator, precision=precision, rows=rows)
        summary.update(total=run.total, reused=run.reused, generated=run.generated, complete=run.complete,
                       precision=run.precision, backend=run.backend)
        if not run.complete:
            log.warning("stopped with %d of %d responses left; rerun to resume", run.total - run.reused - run.generated, run.total)
            return summary
    responses_path = out_dir / RESPONSES
    responses = read_jsonl(responses_path, ResponseRow)
    if not audit_only:
        pairs = build_pairs(rows, responses, hard_labels, str(responses_path), repair_positives=repair_positives)
        write_jsonl(out_dir / PAIRS, pairs)
        n_pos = sum(p.label for p in pairs)
        summary.update(pairs=len(pairs), positives=n_pos, negatives=len(pairs) - n_pos)
        log.info("wrote %s (%d responses) and %s (%d pairs: %d positive, %d negative; hard labels from %s)",
                 responses_path, len(responses), out_dir / PAIRS, len(pairs), n_pos, len(pairs) - n_pos, hard_labels)
    if do_audit or audit_only:
        report = audit(rows, responses, responses_path=str(responses_path))
        path = write_audit(report, out_dir)
        render_table(report)
        log.info("wrote %s", path)
        summary["audit"] = report["overall"]
    return summary
