"""Build ``seeds.jsonl``: filtered, decontaminated, de-duplicated seed instructions.

The paper starts from 3,000 plain instructions without format constraints; we take first human
turns of ShareGPT (shipped offline in a wheel) or any JSONL/CSV/HF source, and make every drop
visible: ``seeds.stats.json`` counts what each filter removed, in the order they run
(cheap regex filters first, langdetect and the similarity filters on what survives).

The final sample of ``n`` is deterministic by seed and *nested*: each candidate gets the rank
``sha256(f"{seed}:{id}")`` and the ``n`` smallest are kept, so a larger ``n`` keeps every seed
of a smaller one and adding rows to the source does not reshuffle the others.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from selfif.config import DEFAULT_BENCHMARK, SeedsConfig
from selfif.data import filters
from selfif.data.sources import RawSeed, StreamStats, iter_file, iter_source
from selfif.io import MAX_PROMPT_CHARS, InputError, atomic_write_json, exclusive_lock, output_set, write_jsonl
from selfif.layout import stats_path

log = logging.getLogger(__name__)

FILTER_ORDER = ("empty", "length", "code", "formatting", "language", "contamination", "near_duplicate")


MAX_SEED_CHARS = MAX_PROMPT_CHARS // 2
"""A seed becomes the head of every prompt of its chain (plus up to five constraint sentences and,
for repeat-the-prompt, a copy in the kwargs), so it gets half the prompt bound: one huge seed can
neither make a row that the curriculum reader rejects nor multiply into a huge curriculum."""


class Seed(BaseModel):
    """One row of ``seeds.jsonl``."""

    model_config = ConfigDict(extra="forbid")
    id: str
    text: str = Field(max_length=MAX_SEED_CHARS)
    source: str


def decontamination_sources(sources: list[str] | None) -> list[str]:
    """Resolved sources for the stats file: absolute paths for files, dataset ids as given."""
    out = []
    for s in [DEFAULT_BENCHMARK] if sources is None else sources:
        p = Path(s).expanduser()
        out.append(str(p.resolve()) if p.exists() else s)
    return out


def load_benchmark_texts(sources: list[str] | None) -> list[str]:
    """Prompts of the decontamination sources: local files (JSONL/CSV/JSON, relative to the cwd)
    or Hugging Face dataset ids in the IFEval format. ``None`` means the default benchmark."""
    texts: list[str] = []
    for source in decontamination_sources(sources):
        p = Path(source).expanduser()
        if p.exists():
            texts.extend(r.text for r in iter_file(p))
        elif source.count("/") == 1 and not source.startswith((".", "/", "~")) and not p.suffix:
            from selfif.eval.benchmark import load_benchmark

            texts.extend(r.prompt for r in load_benchmark(source, check_ids=False))
        else:
            raise InputError(source, None, "decontamination file does not exist")
    return texts


def rank(seed: int, seed_id: str) -> str:
    return hashlib.sha256(f"{seed}:{seed_id}".encode()).hexdigest()


def normalise(text: str) -> str:
    """Trim and collapse runs of blank space (ShareGPT turns carry stray newlines)."""
    return " ".join(text.split())


def build_seeds(cfg: SeedsConfig, *, limit_records: int | None = None, progress: bool = True) -> tuple[list[Seed], dict]:
    """Read the source, apply the filters in :data:`FILTER_ORDER`, sample ``cfg.n``.

    Returns ``(seeds, stats)``; ``stats["dropped"]`` maps each filter to how many it removed.
    """
    t0 = time.perf_counter()
    bench_texts = load_benchmark_texts(cfg.decontaminate)  # fail early on a missing file
    t_start_read = time.perf_counter()
    stream = StreamStats()
    dropped = dict.fromkeys(FILTER_ORDER, 0)
    cheap: list[RawSeed] = []
    n_read = 0
    for raw in tqdm(iter_source(cfg.source, cfg.column, stats=stream), desc="read seeds", unit="rec", disable=not progress):
        if limit_records is not None and n_read >= limit_records:
            break
        n_read += 1
        # A raw text far over the bound is dropped unread: normalising a 50 MB record would
        # allocate millions of words just to find it too long.
        too_long = len(raw.text) > 4 * MAX_SEED_CHARS
        text = "" if too_long else normalise(raw.text)
        if too_long:
            dropped["length"] += 1
        elif not text:
            dropped["empty"] += 1
        elif not cfg.min_chars <= len(text) <= min(cfg.max_chars, MAX_SEED_CHARS):
            dropped["length"] += 1
        elif filters.has_code(raw.text):
            dropped["code"] += 1
        elif filters.has_format_constraint(text):
            dropped["formatting"] += 1
        else:
            cheap.append(RawSeed(raw.id, text, raw.source))
    t_read = time.perf_counter() - t_start_read

    english = []
    for r in tqdm(cheap, desc="language", unit="seed", disable=not progress):
        if filters.is_english(r.text, cfg.seed):
            english.append(r)
        else:
            dropped["language"] += 1

    contam = filters.Contamination(bench_texts, n=cfg.ngram, threshold=cfg.contamination_threshold)
    clean = []
    for r in english:
        if contam(r.text):
            dropped["contamination"] += 1
        else:
            clean.append(r)

    dup = filters.near_duplicates([r.text for r in clean], threshold=cfg.dedup_threshold)
    dropped["near_duplicate"] = len(dup)
    kept = [r for i, r in enumerate(clean) if i not in dup]

    chosen = sorted(kept, key=lambda r: rank(cfg.seed, r.id))[: cfg.n]
    order = {r.id: i for i, r in enumerate(kept)}
    chosen.sort(key=lambda r: order[r.id])  # source order in the file
    seeds = [Seed(id=r.id, text=r.text, source=r.source) for r in chosen]
    elapsed = time.perf_counter() - t0
    if not seeds:  # before anything is written: an existing seeds file must survive a bad source
        raise InputError(cfg.source, None, f"no seeds survived the filters ({n_read} candidates read; "
                         f"dropped: {', '.join(f'{k} {v}' for k, v in dropped.items() if v) or 'none'})")
    if len(seeds) < cfg.n:
        log.warning("only %d seeds survived the filters (asked for %d)", len(seeds), cfg.n)
    stats = {
        "source": cfg.source,
        "records_read": stream.records if cfg.source == "sharegpt" or cfg.source.endswith(".json") else n_read,
        "candidates": n_read,
        "source_truncated": stream.truncated,
        "dropped": dropped,
        "after_filters": len(kept),
        "n_requested": cfg.n,
        "n_written": len(seeds),
        "decontaminated_against": decontamination_sources(cfg.decontaminate),
        "benchmark_prompts": len(bench_texts),
        "settings": cfg.model_dump(mode="json"),
        "seconds": {"read_and_cheap_filters": round(t_read, 3), "total": round(elapsed, 3)},
        "read_records_per_s": round(n_read / t_read, 1) if t_read > 0 else None,
    }
    return seeds, stats


def write_seeds(seeds: list[Seed], stats: dict, out: str | Path) -> tuple[Path, Path]:
    """Write ``seeds.jsonl`` and ``seeds.stats.json`` next to it, as one pair: both are written
    in full before either replaces the earlier pair (:func:`selfif.io.output_set`), so a full disk
    leaves the earlier seeds and their statistics, never new seeds beside old statistics. Neither
    may replace the source or a decontamination file (``--source X.jsonl --out X.jsonl``), and
    one process at a time writes them (``.seeds.jsonl.lock``; a second one exits 2)."""
    out = Path(out)
    stats_file = stats_path(out)
    inputs = [stats.get("source"), *stats.get("decontaminated_against", [])]
    with exclusive_lock(out, inside=False), output_set(out.parent, (out.name, stats_file.name), inputs=inputs, record=None) as tmp:
        write_jsonl(tmp / out.name, seeds)
        atomic_write_json(tmp / stats_file.name, stats)
    return out, stats_file


def format_stats(stats: dict) -> str:
    lines = [f"seeds from {stats['source']}: {stats['candidates']} candidate turns"
             + (f" ({stats['records_read']} records, source truncated)" if stats.get("source_truncated") else "")]
    remaining = stats["candidates"]
    for name in FILTER_ORDER:
        d = stats["dropped"][name]
        remaining -= d
        lines.append(f"  - {name:<15} dropped {d:>6}   remaining {remaining:>6}")
    lines.append(f"  sampled {stats['n_written']} of {stats['after_filters']} (asked {stats['n_requested']}); "
                 f"{stats['seconds']['total']:.1f}s total, read+regex {stats['read_records_per_s']} rec/s")
    return "\n".join(lines)
