"""Seeds: truncated-JSON streaming, file sources, every filter, decontamination, nested sampling, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfif.config import SeedsConfig
from selfif.data import filters
from selfif.data.seeds import build_seeds, rank
from selfif.data.sources import StreamStats, iter_file, iter_json_array, iter_sharegpt, sharegpt_path
from selfif.io import InputError, read_jsonl

from conftest import DATA


def _conv(i: int, first: str = "human") -> dict:
    return {"id": f"c{i}", "conversations": [{"from": first, "value": f"Question number {i} about gardening?"},
                                             {"from": "gpt", "value": "An answer, with \"quotes\" and [brackets] {braces}."}]}


def _write_truncated(path: Path, n_complete: int, cut_inside: int = 25) -> None:
    body = "[\n" + ",\n".join(json.dumps(_conv(i), indent=2) for i in range(n_complete + 1)) + "\n]"
    # cut the last record `cut_inside` characters after it starts: a file ending mid-record
    last_start = body.rindex('{\n  "id": "c%d"' % n_complete)
    path.write_text(body[: last_start + cut_inside], encoding="utf-8")


@pytest.mark.parametrize("chunk", [16, 64, 1 << 20])
def test_truncated_array_stops_cleanly_at_the_cut(tmp_path, chunk):
    path = tmp_path / "trunc.json"
    _write_truncated(path, n_complete=7)
    stats = StreamStats()
    recs = list(iter_json_array(path, chunk_chars=chunk, stats=stats))
    assert [r["id"] for r in recs] == [f"c{i}" for i in range(7)]
    assert stats.truncated and stats.records == 7 and stats.truncated_bytes > 0


def test_complete_array_and_first_human_turns(tmp_path):
    path = tmp_path / "full.json"
    recs = [_conv(0), _conv(1, first="gpt"), {"id": "empty", "conversations": []}, _conv(3)]
    path.write_text(json.dumps(recs), encoding="utf-8")
    stats = StreamStats()
    seeds = list(iter_sharegpt(path, stats=stats))
    assert [s.id for s in seeds] == ["sharegpt-000000", "sharegpt-000003"]  # id = position in the file
    assert stats.records == 4 and not stats.truncated


def test_malformed_record_mid_file_names_the_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('[\n{"id": "a", "conversations": []},\n{"id": "b", "conversations": [}],\n{"id": "c"}\n]\n')
    with pytest.raises(InputError) as e:
        list(iter_json_array(path, chunk_chars=8))
    assert e.value.line == 3 and str(path) in str(e.value)


def test_packaged_sharegpt_smoke_first_records():
    seeds = list(iter_sharegpt(sharegpt_path(), limit=300))
    assert 100 < len(seeds) <= 300
    assert all(s.id.startswith("sharegpt-") and s.text for s in seeds)
    assert len({s.id for s in seeds}) == len(seeds)


def test_file_sources_detect_column_and_locate_errors(tmp_path):
    csv_path = tmp_path / "s.csv"
    csv_path.write_text("id,instruction\n1,Tell me about owls.\n2,Tell me about cats.\n")
    assert [s.text for s in iter_file(csv_path)] == ["Tell me about owls.", "Tell me about cats."]
    j = tmp_path / "s.jsonl"
    j.write_text('{"text": "fine row"}\n{"text": "second"\n')
    with pytest.raises(InputError, match=r"s\.jsonl:2: not valid JSON"):
        list(iter_file(j))
    k = tmp_path / "k.jsonl"
    k.write_text('{"body": "no prompt column"}\n')
    with pytest.raises(InputError, match=r"k\.jsonl:1: no prompt column"):
        list(iter_file(k))
    assert [s.text for s in iter_file(k, column="body")] == ["no prompt column"]


def test_cheap_filters():
    assert filters.has_code("Fix this:\n```\nprint(1)\n```")
    assert filters.has_code("Write a python script to rename files")
    assert not filters.has_code("Plan a three-day trip to Lisbon for a family.")
    for t in ["Explain tides in 100 words.", "Use bullet points.", "Reply in JSON.", "Write it in all caps.", "Do not use commas."]:
        assert filters.has_format_constraint(t), t
    assert not filters.has_format_constraint("What should I cook for dinner tonight?")
    assert filters.is_english("What should I cook for dinner tonight with leftover rice?")
    assert not filters.is_english("¿Qué debería cocinar esta noche con el arroz que sobró?")


def test_near_duplicates_keep_the_first_and_match_brute_force():
    texts = [
        "how do I bake a loaf of sourdough bread at home",
        "How do I bake a loaf of sourdough bread at home?",
        "what is the best way to learn the piano as an adult",
        "how do i bake a loaf of sourdough bread at home quickly",
        "what is the best way to learn the violin as an adult",
        "tell me a story about a dragon",
    ]
    dropped = filters.near_duplicates(texts, threshold=0.7)
    assert dropped == {1, 3}
    # exact Jaccard brute force agrees on which texts are kept
    sets = [filters.ngrams(filters.words(t), 3) for t in texts]
    kept: list[int] = []
    for i, s in enumerate(sets):
        if all(len(s & sets[j]) / len(s | sets[j]) < 0.7 for j in kept):
            kept.append(i)
    assert set(range(len(texts))) - set(kept) == dropped


def test_decontamination_drops_planted_ifeval_prompts(ifeval_path):
    bench = [r["prompt"] for r in read_jsonl(ifeval_path)]
    contam = filters.Contamination(bench, n=8, threshold=0.5)
    planted = bench[5]
    assert contam(planted)
    assert contam("Please: " + planted.upper() + " Thanks!")  # case and framing do not hide it
    assert not contam("What should I plant in a shady vegetable garden in early spring?")


def test_build_seeds_counts_every_filter_and_samples_nested(tmp_path, ifeval_path):
    src = tmp_path / "mixed.jsonl"
    rows = (DATA / "data_seeds_mixed.jsonl").read_text().splitlines()
    planted = [r["prompt"] for r in read_jsonl(ifeval_path) if len(r["prompt"]) < 300 and "`" not in r["prompt"]]
    planted = [p for p in planted if not filters.has_format_constraint(p) and not filters.has_code(p)][:2]
    assert len(planted) == 2
    rows += [json.dumps({"prompt": p}) for p in planted]
    src.write_text("\n".join(rows) + "\n")
    cfg = SeedsConfig(source=str(src), n=100, decontaminate=[str(ifeval_path)])
    seeds, stats = build_seeds(cfg, progress=False)
    d = stats["dropped"]
    assert d["length"] == 1 and d["code"] == 2 and d["formatting"] == 3 and d["language"] == 2
    assert d["contamination"] == 2 and d["near_duplicate"] == 2
    assert stats["n_written"] == len(seeds) == 5 == 17 - sum(d.values())
    assert not any(p in {s.text for s in seeds} for p in planted)
    # nested deterministic sampling: n=3 keeps exactly the 3 best-ranked of the 5
    small, _ = build_seeds(cfg.model_copy(update={"n": 3}), progress=False)
    best = sorted(seeds, key=lambda s: rank(0, s.id))[:3]
    assert {s.id for s in small} == {s.id for s in best}
    other, _ = build_seeds(cfg.model_copy(update={"n": 3, "seed": 1}), progress=False)
    assert len(other) == 3


def test_seeds_cli_writes_seeds_and_stats(tmp_path, ifeval_path):
    from selfif.cli import app

    out = tmp_path / "run" / "seeds.jsonl"
    res = CliRunner().invoke(app, ["seeds", "--source", str(DATA / "data_seeds_mixed.jsonl"), "-n", "4", "--out", str(out),
                                   "--decontaminate", str(ifeval_path)])  # the offline copy of the default google/IFEval
    assert res.exit_code == 0, res.output
    seeds = read_jsonl(out)
    assert len(seeds) == 4 and all(set(s) == {"id", "text", "source"} for s in seeds)
    stats = json.loads((tmp_path / "run" / "seeds.stats.json").read_text())
    assert stats["n_written"] == 4 and "near_duplicate" in stats["dropped"]
    assert "near_duplicate" in res.output


def test_seeds_cli_bad_input_exits_2_with_location(tmp_path, ifeval_path):
    from selfif.cli import app

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok row here for testing"}\n[1, 2]\n')
    res = CliRunner().invoke(app, ["seeds", "--source", str(bad), "--out", str(tmp_path / "s.jsonl"), "--decontaminate", str(ifeval_path)])
    assert res.exit_code == 2
    assert f"{bad}:2: expected a JSON object" in res.output


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_VOCAB = ["bake", "bread", "how", "do", "i", "the", "best", "way", "learn", "piano", "at", "home"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_VOCAB), min_size=1, max_size=9).map(" ".join), max_size=12),
       st.sampled_from([0.5, 0.7, 0.9]))
def test_near_duplicates_equals_greedy_brute_force(texts, threshold):
    sets = [filters.ngrams(filters.words(t), 3) for t in texts]
    kept: list[int] = []
    for i, s in enumerate(sets):
        if all(len(s & sets[j]) / len(s | sets[j]) < threshold for j in kept):
            kept.append(i)
    assert filters.near_duplicates(texts, threshold=threshold) == set(range(len(texts))) - set(kept)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 150), st.integers(4, 300))  # records are ~250 chars
def test_any_cut_of_an_array_yields_exactly_the_complete_records(n, cut_inside, chunk):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.json"
        _write_truncated(path, n_complete=n, cut_inside=cut_inside)
        recs = list(iter_json_array(path, chunk_chars=chunk))
        assert [r["id"] for r in recs] == [f"c{i}" for i in range(n)]


def test_saved_hf_dataset_directory_is_a_source(tmp_path):
    from datasets import Dataset

    from selfif.data.sources import iter_source

    Dataset.from_dict({"instruction": ["Tell me about owls.", "Tell me about cats."], "x": [1, 2]}).save_to_disk(str(tmp_path / "ds"))
    seeds = list(iter_source(str(tmp_path / "ds")))
    assert [(s.id, s.text) for s in seeds] == [("ds-000000", "Tell me about owls."), ("ds-000001", "Tell me about cats.")]
