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

from pydantic import BaseModel, ConfigDict
from tqdm.auto import tqdm

from selfif.config import SeedsConfig
from selfif.data import filters
from selfif.data.sources import RawSeed, StreamStats, iter_file, iter_source
from selfif.io import InputError, atomic_write_json, write_jsonl

log = logging.getLogger(__name__)

FILTER_ORDER = ("empty", "length", "code", "formatting", "language", "contamination", "near_duplicate")
REPO_ROOT = Path(__file__).resolve().parents[3]


class Seed(BaseModel):
    """One row of ``seeds.jsonl``."""

    model_config = ConfigDict(extra="forbid")
    id: str
    text: str
    source: str


def resolve_benchmark(path: str) -> Path:
    """A decontamination file, relative to the cwd or (for config defaults) to the repository root."""
    p = Path(path).expanduser()
    if p.exists():
        return p
    if not p.is_absolute() and (REPO_ROOT / p).exists():
        return REPO_ROOT / p
    raise InputError(path, None, "decontamination file does not exist")


def load_benchmark_texts(paths: list[str]) -> list[str]:
    texts: list[str] = []
    for path in paths:
        texts.extend(r.text for r in iter_file(resolve_benchmark(path)))
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
    bench_texts = load_benchmark_texts(list(cfg.decontaminate))  # fail early on a missing file
    t_start_read = time.perf_counter()
    stream = StreamStats()
    dropped = dict.fromkeys(FILTER_ORDER, 0)
    cheap: list[RawSeed] = []
    n_read = 0
    for raw in tqdm(iter_source(cfg.source, cfg.column, stats=stream), desc="read seeds", unit="rec", disable=not progress):
        if limit_records is not None and n_read >= limit_records:
            break
        n_read += 1
        text = normalise(raw.text)
        if not text:
            dropped["empty"] += 1
        elif not cfg.min_chars <= len(text) <= cfg.max_chars:
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
        "decontaminated_against": [str(resolve_benchmark(p).resolve()) for p in cfg.decontaminate],
        "benchmark_prompts": len(bench_texts),
        "settings": cfg.model_dump(mode="json"),
        "seconds": {"read_and_cheap_filters": round(t_read, 3), "total": round(elapsed, 3)},
        "read_records_per_s": round(n_read / t_read, 1) if t_read > 0 else None,
    }
    return seeds, stats


def write_seeds(seeds: list[Seed], stats: dict, out: str | Path) -> tuple[Path, Path]:
    """Write ``seeds.jsonl`` and ``seeds.stats.json`` next to it, atomically."""
    out = Path(out)
    write_jsonl(out, seeds)
    stats_path = out.with_name(out.name.removesuffix(".jsonl") + ".stats.json")
    atomic_write_json(stats_path, stats)
    return out, stats_path


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
