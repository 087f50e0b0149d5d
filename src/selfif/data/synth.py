"""Build the incremental curriculum: per seed, a chain c_1..c_K of compatible constraints.

Level L_k is the seed followed by the first k constraints, so L_{k-1} and L_k differ in exactly
one constraint; that is what makes the response to L_{k-1} a usable *negative* for c_k in
pseudo-labelling. Level 0 (the bare seed) is emitted too, because c_1 needs a negative.

Each chain is drawn from its own ``random.Random(f"{seed}:{seed_id}")``, so a row depends only on
(global seed, seed id, settings): adding or removing seeds never changes anyone else's chain.
At each position the kind is hard with probability ``hard_ratio``; a type never repeats in a
chain and never conflicts (``registry.conflicts``) with any earlier constraint. If no type of the
drawn kind fits, the other kind is tried; if none fits at all the chain ends early.

Leave-types-out split (``synth.heldout``). The hard types it names are never drawn for the
curriculum, so no stage that reads ``curriculum.jsonl`` (label, reward model, warm-start, GRPO)
sees them; a seeded sample of ``heldout.seeds`` seeds is set aside too, and each of those seeds
becomes one prompt of ``heldout.jsonl`` asking for up to ``heldout.constraints`` held-out types.
That file is in IFEval's input format (``key``, ``prompt``, ``instruction_id_list``, ``kwargs``),
so ``selfif eval ifeval --benchmark heldout.jsonl`` scores answers to it with the registry's
verifiers, and ``selfif run`` does so before and after training. The seeds are held out as well
as the types so that a gain on the split is a gain on types never trained, not on prompts
memorised. What the split does not exclude: soft types whose wording overlaps a held-out hard
type (the soft "morphological (casing)" type against held-out lowercase, say) stay in training.

Constraint-free control set (``synth.control``). A further seeded sample of ``control.seeds``
seeds, drawn from those the held-out split left (so turning the control set on never changes the
split), is kept out of the curriculum and written as it is to ``control_seeds.jsonl`` (rows of
``seeds.jsonl``); ``selfif eval control`` answers them with no constraint before and after
training. They come from ``seeds.jsonl``, so they passed the same decontamination against the
evaluation benchmark as every training seed; being set aside here, before any chain is drawn,
is what keeps them out of labelling, the reward model, warm-start and GRPO.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from selfif.config import ConfigError, SynthConfig
from selfif.constraints.base import ConstraintInstance, ConstraintType
from selfif.data.curriculum import CurriculumRow  # the row model written here (its one home)
from selfif.data.seeds import Seed
from selfif.io import InputError, atomic_write_json, check_inputs_survive, exclusive_lock, output_set, write_jsonl
from selfif.layout import CONTROL_SEEDS, HELDOUT, stats_path

# Paper (Ren et al., 2025): instructions per level and constraint kinds of its curriculum.
PAPER_LEVELS = {1: 2806, 2: 2745, 3: 2700, 4: 2700, 5: 2619}
PAPER_KINDS = {"soft": 24196, "hard": 16095}


def _pool(kind: str, ids: list[str] | None, field: str | None = None) -> list[ConstraintType]:
    from selfif.constraints import registry

    types = registry.all_types(kind)
    if ids is None:
        return types
    known = {t.id for t in types}
    unknown = sorted(set(ids) - known)
    if unknown:
        raise ConfigError(f"{field or f'synth.{kind}_types'}: unknown {kind} constraint ids {unknown}; known: {sorted(known)}")
    return [t for t in types if t.id in set(ids)]


def training_pools(cfg: SynthConfig) -> tuple[list[ConstraintType], list[ConstraintType]]:
    """(hard, soft) types the curriculum draws from: ``hard_types`` (or all) minus the held-out ones."""
    held = {t.id for t in _pool("hard", cfg.heldout.types, "synth.heldout.types")} if cfg.heldout.types else set()
    hard = [t for t in _pool("hard", cfg.hard_types) if t.id not in held]
    return hard, _pool("soft", cfg.soft_types)


def heldout_seed_ids(seeds: list[Seed], cfg: SynthConfig) -> set[str]:
    """The seeds set aside for the held-out prompts (none without held-out types): a seeded sample,
    so the split depends only on (synth.seed, the seed ids, heldout.seeds)."""
    if not cfg.heldout.types:
        return set()
    if cfg.heldout.seeds >= len(seeds):
        raise ConfigError(f"synth.heldout.seeds: {cfg.heldout.seeds} held-out seeds leave none of the {len(seeds)} "
                          "seeds for training; set fewer")
    ids = sorted(s.id for s in seeds)
    return set(random.Random(f"{cfg.seed}/heldout").sample(ids, cfg.heldout.seeds))


def control_seed_ids(seeds: list[Seed], cfg: SynthConfig) -> set[str]:
    """The seeds set aside for the constraint-free control set (none with ``control.seeds`` 0): a
    seeded sample of the seeds the held-out split did not take, so it depends only on (synth.seed,
    the seed ids, the split, control.seeds) and never overlaps the split."""
    if not cfg.control.seeds:
        return set()
    held = heldout_seed_ids(seeds, cfg)
    ids = sorted(s.id for s in seeds if s.id not in held)
    if cfg.control.seeds >= len(ids):
        raise ConfigError(f"synth.control.seeds: {cfg.control.seeds} control seeds leave none of the {len(ids)} "
                          "seeds outside the held-out split for training; set fewer")
    return set(random.Random(f"{cfg.seed}/control").sample(ids, cfg.control.seeds))


def build_control(seeds: list[Seed], cfg: SynthConfig) -> list[Seed]:
    """Rows of ``control_seeds.jsonl``: the control seeds as they are, in ``seeds.jsonl`` order."""
    control = control_seed_ids(seeds, cfg)
    return [s for s in seeds if s.id in control]


def control_path(curriculum: str | Path) -> Path:
    """Where the control seeds of a curriculum live: ``control_seeds.jsonl`` beside it."""
    return Path(curriculum).with_name(CONTROL_SEEDS)


def build_heldout(seeds: list[Seed], cfg: SynthConfig) -> list[dict]:
    """Rows of ``heldout.jsonl`` (IFEval's input format, plus ``seed_id``): per held-out seed, the
    seed followed by up to ``heldout.constraints`` compatible held-out constraints. Empty without
    held-out types."""
    held = heldout_seed_ids(seeds, cfg)
    if not held:
        return []
    pool = _pool("hard", cfg.heldout.types, "synth.heldout.types")
    chain_cfg = cfg.model_copy(update={"levels": cfg.heldout.constraints, "hard_ratio": 1.0})
    rows = []
    for s in seeds:
        if s.id not in held:
            continue
        chain = sample_chain(s.id, s.text, chain_cfg, pool, [])
        rows.append({"key": s.id, "prompt": compose(s.text, chain), "instruction_id_list": [c.id for c in chain],
                     "kwargs": [c.kwargs for c in chain], "seed_id": s.id})
    return rows


def heldout_path(curriculum: str | Path) -> Path:
    """Where the held-out prompts of a curriculum live: ``heldout.jsonl`` beside it."""
    return Path(curriculum).with_name(HELDOUT)


def sample_chain(
    seed_id: str, seed_text: str, cfg: SynthConfig, hard: list[ConstraintType], soft: list[ConstraintType]
) -> list[ConstraintInstance]:
    """The constraint chain of one seed (deterministic in ``(cfg.seed, seed_id)``)."""
    from selfif.constraints import registry

    rng = random.Random(f"{cfg.seed}:{seed_id}")
    chain: list[ConstraintInstance] = []
    for _ in range(cfg.levels):
        first = "hard" if rng.random() < cfg.hard_ratio else "soft"
        picked = None
        for kind in (first, "soft" if first == "hard" else "hard"):
            pool = hard if kind == "hard" else soft
            ok = [
                t for t in pool
                if all(t.id != c.id and not registry.conflicts(t.id, c.id) for c in chain)
            ]
            if ok:
                picked = rng.choice(ok)
                break
        if picked is None:
            break
        chain.append(_instance(picked, rng, seed_text))
    return chain


def _instance(ctype: ConstraintType, rng: random.Random, seed_text: str) -> ConstraintInstance:
    """Sample and render one instance; a type whose verifier compares against the request
    (``fill_from_prompt``, e.g. repeat-the-prompt) gets the bare seed text, which is the
    same at every level of the chain and does not contain the constraint sentences."""
    fill = ctype.fill_from_prompt
    if not fill:
        return ctype.instance(rng)
    return ctype.instance(rng, kwargs={**ctype.sample(rng), fill: seed_text})


def compose(seed_text: str, constraints: list[ConstraintInstance]) -> str:
    """Instruction text of a level: the seed, then each constraint's sentence, in chain order.

    A seed without closing punctuation gets a full stop before the first constraint, so the
    constraint does not read as part of the seed's last sentence ("... plates Do not use commas").
    """
    seed = seed_text.strip()
    if constraints and seed and seed[-1] not in ".?!:;)\"'":
        seed += "."
    return " ".join([seed, *(c.text.strip() for c in constraints)])


def build_curriculum(seeds: list[Seed], cfg: SynthConfig) -> list[CurriculumRow]:
    """The training curriculum: every seed not set aside for the held-out split or the control set,
    chains drawn from :func:`training_pools`."""
    hard, soft = training_pools(cfg)
    if not hard and not soft:
        raise ConfigError("synth: no constraint types to draw from")
    held = heldout_seed_ids(seeds, cfg) | control_seed_ids(seeds, cfg)
    rows: list[CurriculumRow] = []
    for s in seeds:
        if s.id in held:
            continue
        chain = sample_chain(s.id, s.text, cfg, hard, soft)
        for k in range(len(chain) + 1):
            rows.append(CurriculumRow(seed_id=s.id, level=k, prompt=compose(s.text, chain[:k]), seed_text=s.text, constraints=chain[:k]))
    return rows


def curriculum_stats(rows: list[CurriculumRow], cfg: SynthConfig, n_seeds: int, heldout: list[dict] | None = None,
                     control: list[Seed] | None = None) -> dict:
    """Per-level counts, kind counts and per-type counts (over each chain's constraints); with a
    held-out split, its prompt and per-type counts under ``heldout``; with a control set, its
    size under ``control``."""
    levels = Counter(r.level for r in rows)
    full = {}
    for r in rows:  # the longest row of each seed holds its whole chain
        if r.seed_id not in full or r.level > full[r.seed_id].level:
            full[r.seed_id] = r
    kinds = Counter(c.kind for r in full.values() for c in r.constraints)
    types = Counter(c.id for r in full.values() for c in r.constraints)
    n_constraints = sum(kinds.values())
    paper_total = sum(PAPER_KINDS.values())
    held = None
    if heldout:
        held = {"n_prompts": len(heldout), "types": sorted(cfg.heldout.types),
                "per_type": dict(sorted(Counter(i for r in heldout for i in r["instruction_id_list"]).items()))}
    return {
        "n_seeds": n_seeds,
        "n_rows": len(rows),
        "heldout": held,
        "control": {"n_seeds": len(control)} if control else None,
        "levels": {str(k): levels[k] for k in sorted(levels)},
        "kinds": dict(kinds),
        "hard_fraction": round(kinds["hard"] / n_constraints, 4) if n_constraints else None,
        "per_type": dict(sorted(types.items())),
        "n_types_used": len(types),
        "settings": cfg.model_dump(mode="json"),
        "paper": {
            "levels": {str(k): v for k, v in PAPER_LEVELS.items()},
            "kinds": PAPER_KINDS,
            "hard_fraction": round(PAPER_KINDS["hard"] / paper_total, 4),
        },
    }


def format_stats(stats: dict) -> str:
    lines = [f"curriculum: {stats['n_seeds']} seeds, {stats['n_rows']} rows, {stats['n_types_used']} constraint types used",
             f"  {'level':<8}{'ours':>8}{'paper':>8}"]
    for k, n in stats["levels"].items():
        lines.append(f"  L{k:<7}{n:>8}{stats['paper']['levels'].get(k, '-'):>8}")
    for kind in ("soft", "hard"):
        lines.append(f"  {kind:<8}{stats['kinds'].get(kind, 0):>8}{stats['paper']['kinds'][kind]:>8}")
    lines.append(f"  hard fraction {stats['hard_fraction']} (paper {stats['paper']['hard_fraction']})")
    if stats.get("heldout"):
        h = stats["heldout"]
        lines.append(f"  held out of training: {len(h['types'])} hard types, {h['n_prompts']} prompts in {HELDOUT}")
    if stats.get("control"):
        lines.append(f"  control set (no constraints, never trained): {stats['control']['n_seeds']} seeds in {CONTROL_SEEDS}")
    return "\n".join(lines)


def read_seeds(path: str | Path) -> list[Seed]:
    from selfif.io import read_jsonl

    seeds = read_jsonl(path, Seed)
    seen: dict[str, int] = {}
    for i, s in enumerate(seeds, 1):
        if s.id in seen:
            raise InputError(path, None, f"seed id {s.id!r} appears twice (records {seen[s.id]} and {i})")
        seen[s.id] = i
    if not seeds:
        raise InputError(path, None, "no seeds in file")
    return seeds


def synthesize(seeds_path: str | Path, out: str | Path, cfg: SynthConfig) -> dict:
    """Read seeds, write ``curriculum.jsonl`` and ``curriculum.stats.json`` (and, with held-out
    types, ``heldout.jsonl``, with a control set ``control_seeds.jsonl``, beside them); return the stats.

    The files are one set (:func:`selfif.io.output_set`): all are written in full before any
    replaces the earlier ones, so a failure part-way leaves the earlier curriculum with its own
    statistics. None may replace the seeds file (``--seeds X --out X`` is refused before anything
    is built), and one process at a time writes them (``.curriculum.jsonl.lock``; a second one
    gets :class:`selfif.io.Busy`, naming the holder's PID).
    """
    out = Path(out)
    names = (out.name, stats_path(out).name)
    side_files = (heldout_path(out).name,) if cfg.heldout.types else ()
    side_files += (control_path(out).name,) if cfg.control.seeds else ()
    check_inputs_survive([out.parent / n for n in (*names, *side_files)], [seeds_path])  # before the work, not after it
    seeds = read_seeds(seeds_path)
    rows = build_curriculum(seeds, cfg)
    heldout = build_heldout(seeds, cfg)
    control = build_control(seeds, cfg)
    stats = curriculum_stats(rows, cfg, len(seeds), heldout, control)
    with exclusive_lock(out, inside=False), \
            output_set(out.parent, (*names, *side_files), inputs=[seeds_path], record=None) as tmp:
        if heldout:
            write_jsonl(tmp / heldout_path(out).name, heldout)
        if control:
            write_jsonl(tmp / control_path(out).name, control)
        write_jsonl(tmp / out.name, rows)
        atomic_write_json(tmp / names[1], stats)
    return stats
