"""Shared constants and fixtures: repository paths, the IFEval file, the official-checker oracle,
and the real packaged policy, each loaded once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from selfif.eval.benchmark import PACKAGED_IFEVAL  # noqa: E402 - after the environment above

REPO = Path(__file__).resolve().parents[1]
IFEVAL_JSONL = PACKAGED_IFEVAL  # the official input_data.jsonl, package data of selfif
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def ifeval_path() -> Path:
    if not IFEVAL_JSONL.exists():
        pytest.fail(f"benchmark file missing: {IFEVAL_JSONL}")
    return IFEVAL_JSONL


@pytest.fixture(scope="session")
def official_checkers():
    """The offline shims of ``tests/oracle.py`` installed for the rest of the session."""
    from oracle import offline_checkers

    with offline_checkers():
        yield


@pytest.fixture(scope="session")
def oracle(official_checkers):
    """``(iid, kwargs, prompt, response) -> (strict, loose)`` by the official checker."""
    from oracle import official_verdict

    return official_verdict


@pytest.fixture(scope="session")
def oracle_eval(official_checkers):
    """``(BenchmarkRow, response) -> (strict list, loose list)`` by ``if-verifiable``'s own evaluation."""
    from oracle import official_evaluation

    return official_evaluation


@pytest.fixture(scope="session")
def trained_rm(tmp_path_factory) -> tuple[Path, dict]:
    """(checkpoint dir, metrics) of the session's tiny reward model, trained on first use."""
    from reward_helpers import PAIRS, tiny_cfg

    from selfif.reward.train import train_rm

    out = tmp_path_factory.mktemp("rm") / "rm"
    return out, train_rm(PAIRS, out, tiny_cfg(), progress=False)


@pytest.fixture(scope="session")
def loaded_rm(trained_rm):
    """The session's tiny reward model, loaded once."""
    from selfif.reward.model import ConstraintRM

    return ConstraintRM.load(trained_rm[0], device="cpu")


@pytest.fixture
def one_thread():
    """2 shared cores: one intra-op thread avoids OpenMP spin contention (several times faster here)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


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
