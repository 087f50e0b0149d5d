"""Constraint-wise binary reward model (train, load, serve) and the instruction-following reward."""

from selfif.reward.client import RMClient, RMClientError
from selfif.reward.function import (
    InstructionReward,
    RewardResult,
    compute_score,
    make_trl_reward,
    make_verl_compute_score,
    message_text,
    validate_dataset,
)
from selfif.reward.model import ConstraintRM

__all__ = [
    "ConstraintRM",
    "InstructionReward",
    "RMClient",
    "RMClientError",
    "RewardResult",
    "compute_score",
    "make_trl_reward",
    "make_verl_compute_score",
    "message_text",
    "validate_dataset",
]
