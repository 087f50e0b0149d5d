"""The constraint layer: typed constraint types, their verifiers, samplers and templates.

Use :mod:`selfif.constraints.registry` (``get``, ``all_types``, ``verify``, ``graded``,
``conflicts``). Tables: :mod:`.ifeval` (IFEval's 25, exact official verdicts), :mod:`.extra_hard`
(more code-checkable types), :mod:`.soft` (25 CFBench-style types for the reward model),
:mod:`.conflicts`. Shared memoised text measurements live in :mod:`.text` and :mod:`.langid`.
"""
