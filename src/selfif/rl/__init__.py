"""GRPO over the constraint curriculum (TRL ``GRPOTrainer`` + curriculum schedules).

Public API: :func:`train_policy` (``selfif.rl.trainer``), imported lazily so that importing this
package (e.g. for ``selfif --help``) does not pull in torch / TRL.
"""

from __future__ import annotations

__all__ = ["train_policy", "make_reward"]


def __getattr__(name: str):
    if name in __all__:
        from selfif.rl import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'selfif.rl' has no attribute {name!r}")
