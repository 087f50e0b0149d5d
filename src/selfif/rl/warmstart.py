"""Repair-then-supervise warm-start: rejection-sampling fine-tuning where code repairs the samples.

Before GRPO, the policy answers curriculum prompts (levels >= 1 with a hard constraint); each
answer is repaired by code (``registry.repair_chain`` over the row's hard constraints, which
re-verifies the whole chain) and the policy is fine-tuned on the repaired answers with a plain
causal-LM loss on the completion tokens (chat template, prompt tokens masked, EOS included).
GRPO then starts from these weights. The first warm-start probe (154 repaired answers, 2 epochs, lr 1e-5)
moved quotation 1 -> 6 of 41 where guided GRPO alone moved it 1 -> 1.

Which answers become targets:

- ``repaired``: failed some hard constraint and the joint repair succeeded;
- ``already_ok``: passed every hard constraint as sampled (kept: plain rejection sampling);
- dropped: ``truncated`` (cut by ``max_new_tokens``: a repaired cut-off answer would teach
  stopping mid-sentence) and ``unrepairable`` (the chain could not be repaired jointly).

With ``keep_truncated`` an answer cut by the cap is kept when none of its hard constraints depends
on the end (``selfif.rl.truncation.end_dependent``: lowercase, capitals, a repeated prompt are
fair on a prefix; a closing quote or a paragraph count is not). It is judged and repaired like a
finished answer, marked ``"prefix": true``, and trained without the EOS token, so it teaches the
format and not stopping mid-sentence. About half the answers hit the cap, so for such types this
roughly doubles the targets per generated answer.

Yield, measured on 64 cpu-2h curriculum prompts (base SmolLM2-135M, T 0.7, 160 tokens): 32
truncated, 20 repaired, 6 already passing, 6 unrepairable, so about 40 % of the answers become
targets; ``n_prompts`` defaults to 384 for ~150 targets (the dose of the first warm-start probe).

The summary counts, per constraint type, how often answers failed it and how often the repair
of that constraint alone was possible, plus the chain-level outcomes above.

Which types (``types``). An explicit list, empty (any repairable hard type), or ``auto``: the
types the policy (almost) never follows on its own curriculum answers, read from the label
stage's audit (``label/audit.json``; :func:`auto_types`), so no benchmark's per-type results
choose them. ``auto`` needs that audit: a warm-start without one (``selfif train`` on a
curriculum that was never labelled) fails with a message saying so, rather than probing the
policy with answers of its own. The choice, with every audited type's rate, is recorded in the
summary's ``types``.

Did it learn the constraints or its prompts? With ``validation_seeds`` a share of the
curriculum's seeds is never drawn; after the fine-tune the policy answers their prompts and as
many it trained on, greedily, and the summary gives both pass rates. On cpu-2h (150 seeds, 194
prompts x 3 answers) ``experiments/warmstart_generalization.py`` measured 51 % on trained prompts
against 16 % on new seeds with the same templates; 582 prompts from 600 seeds, one answer each,
gave 36 % against 30 %.

Files in ``<out_dir>``: ``warmstart.jsonl`` (one record per answer: row, prompt, original,
repaired, constraint ids, status; appended as batches finish, so an interrupted run resumes
without regenerating), ``warmstart_summary.json`` (written last; its presence with the same
fingerprint means "done", and a rerun skips the stage), ``validation.jsonl`` (with
``validation_seeds``: the greedy answers and verdicts behind the summary's ``validation``),
``model/`` (the fine-tuned policy).

Why a short torch loop and not TRL's ``SFTTrainer``: the step is tens of updates on a few
hundred examples; SFTTrainer would bring a second Trainer with its own output directory,
checkpoint format and dataset preprocessing, while we need exactly one thing it does — masked
cross-entropy on the completion tokens, tokenized the way GRPO tokenizes completions (the
chat-templated prompt, then the answer's tokens and the tokenizer's EOS). The expensive part,
generation, is the resumable one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from selfif.config import ConfigError, WarmstartConfig
from selfif.constraints import registry
from selfif.io import InputError, JsonlAppender, atomic_write_json, read_json, write_jsonl
from selfif.layout import AUDIT, LABEL_DIR, WARMSTART_DATA, WARMSTART_SUMMARY, WARMSTART_VALIDATION
from selfif.rl.guidance import hard_constraints, verdicts
from selfif.rl.truncation import end_dependent

log = logging.getLogger(__name__)

DATA_FILE, SUMMARY_FILE, VALIDATION_FILE = WARMSTART_DATA, WARMSTART_SUMMARY, WARMSTART_VALIDATION  # names live in selfif.layout
MODEL_DIR = "model"
TARGETS = ("repaired", "already_ok")  # the statuses whose answers the policy is fine-tuned on


def audit_beside(curriculum: str | Path) -> Path:
    """The label stage's audit of a curriculum in a run directory (``label/audit.json`` beside it)."""
    return Path(curriculum).parent / LABEL_DIR / AUDIT


def auto_types(audit: dict[str, Any], threshold: float, min_answers: int, where: str | Path = AUDIT) -> dict[str, Any]:
    """The record of ``types: auto``: ``chosen`` = the audited hard types whose asked pass rate (the
    share of the policy's answers, at the levels that ask for the constraint, that its verifier
    passes) is below ``threshold``, among types with at least ``min_answers`` such answers; each
    audited type's rate and count under ``rates``; ``too_few`` for those not judged;
    ``unrepairable`` for those below the threshold that no repair exists for.

    Only repairable types can be chosen: the warm-start trains on repaired answers. A type the
    audit never saw (not in the curriculum) is never chosen. No chosen type is an error: the
    warm-start would have nothing the policy fails at to teach.
    """
    per_type = audit.get("per_type") if isinstance(audit, dict) else None
    if not isinstance(per_type, dict):
        raise InputError(where, None, "not a label audit: expected a \"per_type\" object (written by `selfif label --audit`)")
    rates, chosen, too_few, unrepairable = {}, [], [], []
    for tid, s in sorted(per_type.items()):
        if not isinstance(s, dict) or "asked_pass_rate" not in s or "n_asked" not in s:
            raise InputError(where, None, f"per_type[{tid!r}] lacks asked_pass_rate/n_asked (an audit from `selfif label --audit`)")
        rate, n = s["asked_pass_rate"], s["n_asked"]
        rates[tid] = {"asked_pass_rate": rate, "n_asked": n}
        if rate is None or n < min_answers:
            too_few.append(tid)
        elif rate < threshold:
            (chosen if registry.repairable(tid) else unrepairable).append(tid)
    if not chosen:
        low = ", ".join(f"{t} {r['asked_pass_rate']:.3f}" for t, r in sorted(rates.items(), key=lambda x: x[1]["asked_pass_rate"] or 0)[:3]
                        if r["asked_pass_rate"] is not None)
        raise InputError(where, None, f"train.warmstart.types=auto: no repairable type has an asked pass rate below "
                         f"auto_threshold={threshold} over >= {min_answers} answers (lowest: {low or 'none'}); raise "
                         "the threshold, list the types, or disable the warm-start")
    return {"mode": "auto", "audit": str(where), "threshold": threshold, "min_answers": min_answers,
            "chosen": chosen, "rates": rates, "too_few": too_few, "unrepairable": unrepairable}


def resolve_types(ws: WarmstartConfig, audit_path: str | Path | None) -> tuple[WarmstartConfig, dict[str, Any]]:
    """``ws`` with ``types`` as a concrete list, and the record of how it was chosen (summary ``types``).

    ``auto`` reads the audit at ``audit_path`` once (:func:`auto_types`); a list is kept as given."""
    if ws.types != "auto":
        return ws, {"mode": "list" if ws.types else "any", "chosen": list(ws.types)}
    if audit_path is None or not Path(audit_path).exists():
        raise InputError(audit_path or AUDIT, None, "train.warmstart.types=auto picks the types from the label stage's "
                         "audit, and there is none here: run `selfif label --audit` on this curriculum first "
                         "(`selfif run` does), or list the types in train.warmstart.types")
    record = auto_types(read_json(audit_path), ws.auto_threshold, ws.auto_min_answers, audit_path)
    log.info("warm-start types (auto, asked pass rate < %s in %s): %s", ws.auto_threshold, audit_path,
             ", ".join(f"{t} {record['rates'][t]['asked_pass_rate']:.3f}" for t in record["chosen"]))
    return ws.model_copy(update={"types": record["chosen"]}), record


_RESOLVED_BY_TYPES = {"auto_threshold", "auto_min_answers"}  # their whole effect is the resolved types list


def fingerprint(ws: WarmstartConfig, model_name: str, rows: list[dict]) -> str:
    """What the warm-start depends on: its config with ``types`` resolved (fields at their defaults
    left out, so a field added later does not restart a finished warm-start), the starting model,
    the prompts it may draw."""
    blob = json.dumps([ws.model_dump(mode="json", exclude_defaults=True, exclude=_RESOLVED_BY_TYPES), model_name, [(r["prompt"], r["constraints"]) for r in rows]], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def targeting(ws: WarmstartConfig) -> Callable[[dict], list[dict]]:
    """``row -> the row's hard constraints the warm-start is for``: repairable ones (of ``ws.types``
    when given). ``ws.types`` is resolved once, here, so an unknown id fails before any answer."""
    if ws.types == "auto":
        raise ValueError("warm-start types are 'auto': resolve them against the label audit first (resolve_types)")
    wanted = {registry.get(t).id for t in ws.types}

    def targeted(row: dict) -> list[dict]:
        return [c for c in hard_constraints(row["constraints"]) if registry.repairable(c["id"]) and (not wanted or c["id"] in wanted)]

    return targeted


def validation_seeds(ws: WarmstartConfig, rows: list[dict]) -> set[str]:
    """The seed ids held out of the warm-start (a seeded ``validation_seeds`` share; none when 0)."""
    seeds = sorted({r["seed_id"] for r in rows})
    return set(random.Random(f"{ws.seed}/validation").sample(seeds, round(len(seeds) * ws.validation_seeds)))


def select_prompts(ws: WarmstartConfig, rows: list[dict]) -> list[dict]:
    """``n_prompts`` training rows that carry a repairable hard constraint (of ``ws.types`` when
    given), a seeded sample; rows of the validation seeds are never drawn."""
    targeted = targeting(ws)
    held = validation_seeds(ws, rows) if ws.validation_seeds else set()
    pool = [r for r in rows if targeted(r) and r.get("seed_id") not in held]
    if not pool:
        wanted = sorted({registry.get(t).id for t in ws.types})
        raise ConfigError(f"train.warmstart: no curriculum row has a repairable hard constraint{' of ' + ', '.join(wanted) if wanted else ''}")
    rng = random.Random(ws.seed)
    return rng.sample(pool, min(ws.n_prompts, len(pool)))


def validate(ws: WarmstartConfig, model_dir: str | Path, trained: list[dict], rows: list[dict], path: Path) -> dict[str, Any]:
    """Greedy pass rates of the fine-tuned policy on prompts it trained on and on the validation
    seeds' prompts (up to ``validation_prompts`` each, seeded samples); each answer and its
    verdicts go to ``path`` (JSONL).

    Each of a row's targeted constraints (:func:`targeting`) is checked strictly and counted per
    type; a row passes when all of them pass. Held-out rows far below trained ones mean the
    fine-tune memorised its prompts (51 % against 16 % on cpu-2h's 194 prompts, docs/experiments.md)."""
    from selfif.generation import SamplingParams, make_generator
    from selfif.models import resolve

    targeted = targeting(ws)
    held = validation_seeds(ws, rows)
    sets = {"trained": list({r["row"]: r for r in trained}.values()),
            "held_out": [r for r in rows if r.get("seed_id") in held and targeted(r)]}
    rng = random.Random(f"{ws.seed}/validation-sample")
    sets = {k: rng.sample(v, min(ws.validation_prompts, len(v))) for k, v in sets.items()}
    order = [(name, r) for name, picked in sets.items() for r in picked]
    resolved = resolve(str(model_dir))  # once: the backend choice and the backend use it
    gen = make_generator(str(model_dir), backend=answer_backend(str(model_dir), resolved), path=resolved)
    params = SamplingParams(max_new_tokens=ws.max_new_tokens, temperature=0.0, seed=ws.seed, batch_size=ws.answer_batch_size)
    answers = gen.generate([_prompt_text(r) for _, r in order], params, desc="warm-start validation")
    del gen
    out: dict[str, Any] = {name: {"prompts": 0, "passed": 0, "per_type": {}} for name in sets}
    records = []
    for (name, r), answer in zip(order, answers):
        cons, prompt = targeted(r), _prompt_text(r)
        vs = verdicts(cons, answer, prompt)
        records.append({"set": name, "row": r["row"], "seed_id": r.get("seed_id"), "prompt": prompt, "answer": answer,
                        "constraints": [c["id"] for c in cons], "verdicts": vs})
        res = out[name]
        res["prompts"] += 1
        res["passed"] += all(vs)
        for c, v in zip(cons, vs):
            k, n = res["per_type"].get(c["id"], (0, 0))
            res["per_type"][c["id"]] = (k + v, n + 1)
    for res in out.values():
        res["pass_rate"] = res["passed"] / res["prompts"] if res["prompts"] else None
        res["per_type"] = {t: {"passed": k, "prompts": n} for t, (k, n) in sorted(res["per_type"].items())}
    out["seeds_held_out"] = len(held)
    write_jsonl(path, records)
    return out


def _prompt_text(row: dict) -> str:
    return row["prompt"][-1]["content"]


def judge(row: dict, answer: str, truncated: bool, keep_truncated: bool = False) -> dict[str, Any]:
    """One warm-start record: the answer, its repair, and what happened to it."""
    hard = hard_constraints(row["constraints"])
    prompt = _prompt_text(row)
    vs = verdicts(hard, answer, prompt)
    rec: dict[str, Any] = {
        "row": row["row"], "prompt": prompt, "original": answer, "repaired": None,
        "constraints": [c["id"] for c in hard], "failed": [c["id"] for c, v in zip(hard, vs) if not v],
        "repairable_alone": [],
    }  # fmt: skip
    for c, v in zip(hard, vs):
        if not v and registry.repairable(c["id"]):
            r = registry.repair(c["id"], answer, c["kwargs"], prompt)
            if r is not None:  # repair() returns only what the strict verifier accepts
                rec["repairable_alone"].append(c["id"])
    prefix = truncated and keep_truncated and not any(end_dependent(c["id"], c["kwargs"]) for c in hard)
    if prefix:
        rec["prefix"] = True
    if truncated and not prefix:
        rec["status"] = "truncated"
    elif all(vs):
        rec["status"], rec["repaired"] = "already_ok", answer
    else:
        fixed = registry.repair_chain(hard, answer, prompt)
        rec["status"] = "repaired" if fixed is not None else "unrepairable"
        rec["repaired"] = fixed
    return rec


def answer_backend(model_name: str, path: str | None = None) -> str:
    """The engine that answers: the machine's default (openvino on a CPU); on a GPU transformers,
    since a vLLM engine would keep GPU memory that GRPO needs next in this process (``path``:
    ``model_name`` already resolved)."""
    from selfif.generation import resolve_backend, vllm_usable

    return "transformers" if vllm_usable() else resolve_backend("auto", model_name, path)


def generate_answers(ws: WarmstartConfig, model_name: str, picked: list[dict], path: Path) -> list[dict]:
    """Answer (and judge) every picked prompt ``samples_per_prompt`` times; resumes from ``path``."""
    from selfif.generation import SamplingParams, make_generator
    from selfif.models import resolve

    jobs = [(row, s) for row in picked for s in range(ws.samples_per_prompt)]
    with JsonlAppender(path) as out:
        done = {(r["row"], r["sample"]) for r in out.existing()}
        todo = [(row, s) for row, s in jobs if (row["row"], s) not in done]
        if todo:
            resolved = resolve(model_name)  # once: the backend choice and the backend use it
            gen = make_generator(model_name, backend=answer_backend(model_name, resolved), path=resolved)
            params = SamplingParams(max_new_tokens=ws.max_new_tokens, temperature=ws.temperature, seed=ws.seed + len(done), batch_size=ws.answer_batch_size)
            batches = gen.iter_generate([_prompt_text(r) for r, _ in todo], params, desc="warm-start answers", with_truncation=True)
            for idx, texts, cut in batches:
                for i, text, truncated in zip(idx, texts, cut):
                    row, s = todo[i]
                    out.write({**judge(row, text, truncated, ws.keep_truncated), "sample": s})
            del gen
        records = out.existing()
    wanted = {(row["row"], s) for row, s in jobs}
    return [r for r in records if (r["row"], r["sample"]) in wanted]


def summarize_records(records: list[dict]) -> dict[str, Any]:
    """Chain-level outcomes and, per constraint type, failures and single-constraint repairs."""
    per_type: dict[str, dict[str, int]] = {}
    for r in records:
        for cid in r["constraints"]:
            t = per_type.setdefault(cid, {"answers": 0, "failed": 0, "repairable_alone": 0})
            t["answers"] += 1
            t["failed"] += cid in r["failed"]
            t["repairable_alone"] += cid in r["repairable_alone"]
    return {"answers": len(records), "status": dict(sorted(Counter(r["status"] for r in records).items())),
            "prefix_targets": sum(bool(r.get("prefix")) and r["status"] in TARGETS for r in records),
            "per_type": dict(sorted(per_type.items()))}


def _examples(records: list[dict], tok) -> list[tuple[list[int], int]]:
    """(input ids, prompt length) per target: chat-templated prompt + answer tokens + EOS (none
    after a prefix: the answer was cut, not finished)."""
    out = []
    for r in records:
        if r["status"] not in TARGETS:
            continue
        p = tok.apply_chat_template([{"role": "user", "content": r["prompt"]}], tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"]
        c = tok.encode(r["repaired"], add_special_tokens=False) + ([] if r.get("prefix") else [tok.eos_token_id])
        out.append((list(p) + c, len(p)))
    return out


def finetune(ws: WarmstartConfig, model_name: str, records: list[dict], model_dir: Path, precision: str = "fp32") -> dict[str, Any]:
    """Masked causal-LM fine-tune on the targets; saves the model to ``model_dir``; returns loss stats.

    ``precision``: a resolved precision (selfif.precision); bf16 is autocast, weights stay fp32.
    """
    import torch
    from tqdm.auto import tqdm

    from selfif.models import load_policy
    from selfif.precision import autocast

    model, tok = load_policy(model_name, device="cuda" if torch.cuda.is_available() else "cpu")
    device = next(model.parameters()).device
    if model.dtype != torch.float32:
        model = model.float()  # fp32 master weights (the optimizer state follows them)
    examples = _examples(records, tok)
    opt = torch.optim.AdamW(model.parameters(), lr=ws.learning_rate, weight_decay=0.0)
    rng = random.Random(ws.seed)
    model.train()
    epoch_losses = []
    updates = 0
    per_epoch = -(-len(examples) // ws.batch_size)
    bar = tqdm(total=per_epoch * ws.epochs if examples else 0, desc="warm-start updates", unit="step")
    for _ in range(ws.epochs if examples else 0):
        order = list(range(len(examples)))
        rng.shuffle(order)
        losses = []
        for b in range(0, len(order), ws.batch_size):
            batch = [examples[i] for i in order[b : b + ws.batch_size]]
            width = max(len(ids) for ids, _ in batch)
            ids = torch.full((len(batch), width), tok.pad_token_id, dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            att = torch.zeros((len(batch), width), dtype=torch.long)
            for j, (x, plen) in enumerate(batch):
                ids[j, : len(x)] = torch.tensor(x)
                labels[j, plen : len(x)] = torch.tensor(x[plen:])
                att[j, : len(x)] = 1
            with autocast(precision, device.type):
                loss = model(input_ids=ids.to(device), attention_mask=att.to(device), labels=labels.to(device)).loss
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
            updates += 1
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        epoch_losses.append(sum(losses) / len(losses))
    bar.close()
    model.eval()
    tmp = model_dir.parent / f".{model_dir.name}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    if model_dir.exists():
        shutil.rmtree(model_dir)
    tmp.rename(model_dir)
    return {"examples": len(examples), "updates": updates, "epoch_loss": epoch_losses, "precision": precision}


def run_warmstart(ws: WarmstartConfig, rows: list[dict], model_name: str, out_dir: str | Path, precision: str = "fp32",
                  audit_path: str | Path | None = None) -> dict[str, Any]:
    """Generate, repair, fine-tune; returns the summary (``model_dir`` is where GRPO starts).

    ``audit_path``: the label audit that ``types: auto`` reads (:func:`resolve_types`); the
    fingerprint holds the resolved types, so a new audit that picks other types starts over.
    Skipped (summary returned as is) when ``out_dir`` already holds a finished warm-start with the
    same fingerprint; a changed config or model starts it over.
    """
    out_dir = Path(out_dir)
    config = ws.model_dump(mode="json")  # as given (types may be "auto")
    ws, types = resolve_types(ws, audit_path)
    fp = fingerprint(ws, model_name, rows)
    summary_path = out_dir / SUMMARY_FILE
    if summary_path.exists():
        done = read_json(summary_path)  # a torn summary is a located error
        if done.get("fingerprint") == fp and (out_dir / MODEL_DIR / "config.json").exists():
            log.info("warm-start already done in %s; skipping", out_dir)
            return done
        log.info("warm-start in %s was made with other settings; starting over", out_dir)
        shutil.rmtree(out_dir)
    elif (out_dir / DATA_FILE).exists() and (out_dir / ".fingerprint").exists() and (out_dir / ".fingerprint").read_text() != fp:
        shutil.rmtree(out_dir)  # an interrupted warm-start with other settings: its answers do not apply
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / ".fingerprint").write_text(fp)
    t0 = time.time()
    picked = select_prompts(ws, rows)
    if not picked:
        raise ConfigError("train.warmstart: no curriculum row has a repairable hard constraint")
    records = generate_answers(ws, model_name, picked, out_dir / DATA_FILE)
    t_gen = time.time() - t0
    fit = finetune(ws, model_name, records, out_dir / MODEL_DIR, precision)
    check = None
    if ws.validation_seeds:
        t_val = time.time()
        check = validate(ws, out_dir / MODEL_DIR, picked, rows, out_dir / VALIDATION_FILE)
        check["seconds"] = time.time() - t_val
        rate = {k: "-" if check[k]["pass_rate"] is None else f"{100 * check[k]['pass_rate']:.0f} %" for k in ("trained", "held_out")}
        log.info("warm-start validation (greedy): %s of %d trained prompts pass, %s of %d from %d held-out seeds",
                 rate["trained"], check["trained"]["prompts"], rate["held_out"], check["held_out"]["prompts"], check["seeds_held_out"])
    summary = {
        "fingerprint": fp, "model": model_name, "model_dir": str(out_dir / MODEL_DIR), "prompts": len(picked),
        **summarize_records(records), **fit, "validation": check, "generation_backend": answer_backend(model_name),
        "generation_s": t_gen, "wall_s": time.time() - t0, "config": config, "types": types,
    }  # fmt: skip
    atomic_write_json(summary_path, summary)
    return summary
