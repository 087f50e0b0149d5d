"""Shared fixtures: the real packaged policy, loaded once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
IFEVAL_JSONL = REPO.parent / "shared" / "benchmarks" / "ifeval_input_data.jsonl"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def ifeval_path() -> Path:
    if not IFEVAL_JSONL.exists():
        pytest.fail(f"benchmark file missing: {IFEVAL_JSONL}")
    return IFEVAL_JSONL


@pytest.fixture(scope="session")
def policy():
    """(model, tokenizer) of the default packaged SmolLM2-135M-Instruct (materialised once)."""
    import torch

    from selfif.models import load_policy

    torch.manual_seed(0)
    return load_policy("smollm2-135m", device="cpu")


@pytest.fixture(scope="session")
def policy_path() -> str:
    """Path of the materialised plain checkpoint of the default policy."""
    from selfif.models import resolve

    return resolve("smollm2-135m")
