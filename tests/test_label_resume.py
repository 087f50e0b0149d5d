"""Label generation with the real packaged policy: interrupted run, torn partial line, resume."""

from __future__ import annotations

import json

import pytest

from selfif.config import GenerationConfig, SynthConfig
from selfif.data.seeds import Seed
from selfif.data.synth import build_curriculum
from selfif.generation import make_generator
from selfif.io import InputError, read_jsonl, write_jsonl
from selfif.labeling.label import PARTIAL, RESPONSES, generate_responses

GEN = GenerationConfig(backend="transformers", max_new_tokens=4, batch_size=2, temperature=0.7, seed=0)


@pytest.fixture(scope="module")
def generator(policy):
    """The session's policy behind the shared backend. One intra-op thread: on a shared 2-core
    machine OpenMP's spin-waiting with 2 threads made 4-token generation ~10x slower."""
    import torch

    model, tok = policy
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield make_generator("smollm2-135m", backend="transformers", model=model, tokenizer=tok)
    torch.set_num_threads(threads)


@pytest.fixture()
def curriculum(tmp_path):
    seeds = [Seed(id="a", text="Name a fruit.", source="t"), Seed(id="b", text="Name a colour.", source="t")]
    rows = build_curriculum(seeds, SynthConfig(levels=2, hard_ratio=1.0, seed=0))
    return write_jsonl(tmp_path / "curriculum.jsonl", rows)


def test_interrupted_run_resumes_without_loss_or_duplicates(tmp_path, curriculum, generator):
    out = tmp_path / "run"
    first = generate_responses(curriculum, out, "smollm2-135m", GEN, generator=generator, max_batches=1, progress=False)
    assert (first.total, first.reused, first.generated, first.complete) == (6, 0, 2, False)
    assert not (out / RESPONSES).exists()
    partial = out / PARTIAL
    kept = partial.read_text()
    # a kill in the middle of writing the next record leaves a torn line behind
    with partial.open("a") as f:
        f.write('{"seed_id": "b", "level": 2, "prompt": "Name a co')

    second = generate_responses(curriculum, out, "smollm2-135m", GEN, generator=generator, progress=False)
    assert (second.reused, second.generated, second.complete) == (2, 4, True)
    assert partial.read_text().startswith(kept)  # finished responses were kept, not regenerated
    lines = partial.read_text().splitlines()
    keys = [(r["seed_id"], r["level"]) for r in map(json.loads, lines)]
    assert len(keys) == len(set(keys)) == 6
    final = read_jsonl(out / RESPONSES)
    cur = read_jsonl(curriculum)
    assert [(r["seed_id"], r["level"], r["prompt"]) for r in final] == [(r["seed_id"], r["level"], r["prompt"]) for r in cur]
    assert all(isinstance(r["response"], str) for r in final)
    done_first = {(r["seed_id"], r["level"]): r["response"] for r in map(json.loads, kept.splitlines())}
    assert all(done_first[(r["seed_id"], r["level"])] == r["response"] for r in final if (r["seed_id"], r["level"]) in done_first)

    # rerunning a finished run generates nothing
    third = generate_responses(curriculum, out, "smollm2-135m", GEN, generator=generator, progress=False)
    assert (third.reused, third.generated, third.complete) == (6, 0, True)


def test_resume_with_other_settings_is_refused(tmp_path, curriculum, generator):
    out = tmp_path / "run"
    generate_responses(curriculum, out, "smollm2-135m", GEN, generator=generator, max_batches=1, progress=False)
    other = GEN.model_copy(update={"temperature": 1.0})
    with pytest.raises(InputError, match="temperature|generation"):
        generate_responses(curriculum, out, "smollm2-135m", other, generator=generator, progress=False)
    # batch size is not part of the identity of a response: changing it resumes fine
    run = generate_responses(curriculum, out, "smollm2-135m", GEN.model_copy(update={"batch_size": 4}),
                             generator=generator, max_batches=1, progress=False)
    assert run.reused == 2 and run.generated == 4 and run.complete


def test_whole_stage_writes_pairs_and_audit(tmp_path, curriculum, generator, caplog):
    from selfif.labeling.stage import run_label

    out = tmp_path / "run"
    one_batch = GEN.model_copy(update={"batch_size": 6, "max_new_tokens": 3})
    with caplog.at_level("INFO", logger="selfif.labeling.stage"):
        summary = run_label(curriculum, out, "smollm2-135m", one_batch, "verifier", do_audit=True, audit_only=False,
                            generator=generator)
    echoed = [r.getMessage() for r in caplog.records]
    pairs = read_jsonl(out / "pairs.jsonl")
    n_constraints = sum(len(r["constraints"]) for r in read_jsonl(curriculum) if r["level"] == 2)
    assert summary["complete"] and summary["pairs"] == len(pairs) == 2 * n_constraints
    assert all(p["source"] == "verifier" and p["label"] == p["verifier_label"] for p in pairs)  # all hard here
    audit = json.loads((out / "audit.json").read_text())
    assert audit["n_hard_constraints"] == n_constraints
    assert sum(s["n_pos"] for s in audit["per_type"].values()) == n_constraints
    assert any("pairs.jsonl" in line for line in echoed)
