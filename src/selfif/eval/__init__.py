"""IFEval evaluation: benchmark loading, batched generation, official-semantics scoring, reports.

Public API (imported lazily so ``selfif --help`` stays fast):
``evaluate_ifeval``, ``score_responses``, ``score_file``, ``compare_report``, ``compare_dirs``,
``paired_bootstrap``, ``load_benchmark``.
"""

from __future__ import annotations

import importlib
from typing import Any

_API = {
    "evaluate_ifeval": "selfif.eval.ifeval",
    "score_file": "selfif.eval.ifeval",
    "score_responses": "selfif.eval.scoring",
    "compare_report": "selfif.eval.report",
    "compare_dirs": "selfif.eval.bootstrap",
    "paired_bootstrap": "selfif.eval.bootstrap",
    "load_benchmark": "selfif.eval.benchmark",
    "BenchmarkRow": "selfif.eval.benchmark",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'selfif.eval' has no attribute {name!r}")
