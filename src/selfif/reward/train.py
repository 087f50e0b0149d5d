"""Training the constraint-wise binary reward model (``selfif train-rm``).

A plain PyTorch loop rather than HF ``Trainer``: with ``num_labels=1`` ``Trainer`` would pick a
regression (MSE) loss unless overridden, and the state this stage must resume from (optimizer,
scheduler, RNG, epoch and step, early-stopping counters, the best model so far, a fingerprint of
the inputs) is simpler to save and check explicitly than through ``Trainer``'s checkpoint
conventions. The loss is BCE-with-logits on one logit, as in the paper.

Resumption: state lives in ``.<out>.work/`` next to the output. It is written every
``save_every`` optimizer steps and at each epoch end; batch order is a pure function of
``(seed, epoch)``, so a rerun skips the batches already done and continues. A finished run
renames a complete temp directory to ``out`` and deletes the work directory. ``--overwrite``
replaces only a checkpoint this command wrote (:func:`check_out`), and ``.<out>.lock`` beside it
keeps a second trainer of the same ``out`` away.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from selfif.config import RMConfig
from selfif.io import InputError, atomic_write_json, exclusive_lock, read_json, write_jsonl
from selfif.layout import RM_METRICS, RM_RELIABILITY
from selfif.reward.data import PairRecord, class_balance, filter_by_audit, load_audit, load_pairs, split_by_seed
from selfif.reward.metrics import compute_metrics, reliability_plot
from selfif.precision import autocast, resolve_precision
from selfif.reward.model import META_FILE, load_backbone, write_meta
from selfif.reward import template
from selfif.reward.template import TEMPLATE_ID

log = logging.getLogger(__name__)

STATE_FILE = "state.pt"


def _fingerprint(pairs_path: Path, cfg: RMConfig, audit_path: Path | None) -> str:
    h = hashlib.sha256()
    h.update(pairs_path.read_bytes())
    if audit_path is not None:
        h.update(audit_path.read_bytes())
    h.update(json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode())
    h.update(TEMPLATE_ID.encode())
    return h.hexdigest()[:16]


def _items(pairs: list[PairRecord]) -> list[tuple[str, str, str | None]]:
    return [(p.response, p.constraint.text, p.instruction) for p in pairs]


class _Encoded:
    """Tokenized pairs (unpadded); batches are padded on the fly by the tokenizer."""

    def __init__(self, tokenizer, pairs: list[PairRecord], cfg: RMConfig):
        enc = (template.encode(tokenizer, _items(pairs), max_length=cfg.max_length, include_instruction=cfg.include_instruction)
               if pairs else {"input_ids": [], "attention_mask": []})  # tokenizers fail on an empty batch
        self.keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
        self.enc = enc
        self.labels = [float(p.label) for p in pairs]
        self.tokenizer = tokenizer

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, idx: list[int], device):
        import torch

        feats = [{k: self.enc[k][i] for k in self.keys} for i in idx]
        b = self.tokenizer.pad(feats, return_tensors="pt").to(device)
        y = torch.tensor([self.labels[i] for i in idx], dtype=torch.float32, device=device)
        return b, y


def _epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    import torch

    g = torch.Generator().manual_seed(seed * 10_007 + epoch)
    return torch.randperm(n, generator=g).tolist()


def _predict(model, data: _Encoded, batch_size: int, device, precision: str = "fp32") -> tuple[list[float], float]:
    """Probabilities (input order) and mean BCE loss on ``data`` (forward at ``precision``)."""
    import torch

    from selfif.precision import autocast

    if len(data) == 0:
        return [], float("nan")
    order = sorted(range(len(data)), key=lambda i: len(data.enc["input_ids"][i]))
    probs = [0.0] * len(data)
    total = 0.0
    model.eval()
    with torch.inference_mode(), autocast(precision, str(device)):
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            b, y = data.batch(idx, device)
            logits = model(**b).logits[:, 0].float()
            total += torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="sum").item()
            for i, p in zip(idx, torch.sigmoid(logits).tolist()):
                probs[i] = p
    model.train()
    return probs, total / len(data)


def _save_state(work: Path, model, optimizer, scheduler, state: dict[str, Any]) -> None:
    """Write the resumable state atomically: model into ``current/``, the rest into ``state.pt``."""
    import torch

    cur_tmp = Path(tempfile.mkdtemp(prefix="current.", dir=work))
    model.save_pretrained(cur_tmp, safe_serialization=True)
    old = work / "current"
    if old.exists():
        shutil.rmtree(old)
    cur_tmp.rename(old)
    blob = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "python_rng": list(random.getstate()[1]),
        "state": json.dumps(state),
    }
    tmp = work / (STATE_FILE + ".tmp")
    torch.save(blob, tmp)
    tmp.replace(work / STATE_FILE)


def _save_best(work: Path) -> None:
    """Mark the just-saved ``current/`` model as the best so far (hard links: no second copy)."""
    tmp = Path(tempfile.mkdtemp(prefix="best.", dir=work))
    for f in (work / "current").iterdir():
        try:
            os.link(f, tmp / f.name)
        except OSError:  # filesystems without hard links
            shutil.copy2(f, tmp / f.name)
    if (work / "best").exists():
        shutil.rmtree(work / "best")
    tmp.rename(work / "best")


def train_rm(
    pairs_path: str | Path,
    out: str | Path,
    cfg: RMConfig | None = None,
    *,
    audit_path: str | Path | None = None,
    overwrite: bool = False,
    save_every: int = 200,
    stop_after_steps: int | None = None,
    device: str | None = None,
    progress: bool = True,
) -> dict[str, Any] | None:
    """Train an RM on ``pairs.jsonl`` into checkpoint directory ``out``; returns the metrics.

    Rerunning after an interruption resumes from ``.<out>.work/`` (same inputs and config
    required; otherwise the stale work directory is reported and must be removed).
    ``stop_after_steps`` ends this invocation once that many optimizer steps are done in total,
    saving resumable state and returning ``None`` (for time-boxed jobs: rerun to continue).
    """
    cfg = cfg or RMConfig()
    pairs_path, out = Path(pairs_path), Path(out)
    audit_path = Path(audit_path) if audit_path is not None else None
    check_out(out, overwrite, (pairs_path, audit_path))

    pairs = load_pairs(pairs_path)
    dropped: list[str] = []
    accuracy = load_audit(audit_path) if audit_path is not None else None  # a bad --audit fails even when unused
    if accuracy is not None and cfg.min_audit_accuracy > 0:
        pairs, dropped = filter_by_audit(pairs, accuracy, cfg.min_audit_accuracy)
    train, val = split_by_seed(pairs, cfg.val_fraction, cfg.seed)
    if not train:
        raise InputError(pairs_path, None, "no training pairs left after the audit filter and the seed split")
    if len({p.label for p in train}) < 2:
        log.warning("training pairs have a single label (%s): the RM cannot learn to separate", train[0].label)
    with exclusive_lock(out, inside=False):  # one trainer per checkpoint: two would share .<out>.work/
        return _train(pairs_path, out, cfg, audit_path, overwrite, save_every, stop_after_steps, device, progress,
                      pairs, train, val, dropped)


def _train(pairs_path, out, cfg, audit_path, overwrite, save_every, stop_after_steps, device, progress,
           pairs, train, val, dropped) -> dict[str, Any] | None:
    """The training loop of :func:`train_rm`, on validated pairs, holding the checkpoint's lock."""
    import torch  # only now: bad input above fails without paying for torch
    from transformers import get_linear_schedule_with_warmup

    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    # bf16 autocast around forward passes only: weights and AdamW state stay fp32
    prec = resolve_precision(cfg.precision, device)
    model, tok = load_backbone(cfg.backbone)
    model.to(device).train()
    tr, va = _Encoded(tok, train, cfg), _Encoded(tok, val, cfg)

    bs = cfg.batch_size
    steps_per_epoch = math.ceil(len(tr) / bs)
    total_steps = steps_per_epoch * cfg.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(0.1 * total_steps), total_steps)

    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.work"
    fp = _fingerprint(pairs_path, cfg, audit_path)
    state: dict[str, Any] = {
        "fingerprint": fp, "epoch": 0, "step_in_epoch": 0, "global_step": 0, "best_val_loss": None,
        "best_epoch": None, "bad_epochs": 0, "epoch_train_loss": [], "epoch_val_loss": [], "step_losses": [],
        "running_loss": 0.0, "done": False,
    }  # fmt: skip
    if (work / STATE_FILE).exists():
        blob = torch.load(work / STATE_FILE, weights_only=True)
        saved = json.loads(blob["state"])
        if saved.get("fingerprint") != fp:
            raise InputError(work, None, "holds an interrupted run with different pairs/config; delete it to start over")
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(str(work / "current")).to(device).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
        scheduler = get_linear_schedule_with_warmup(optimizer, int(0.1 * total_steps), total_steps)
        optimizer.load_state_dict(blob["optimizer"])
        scheduler.load_state_dict(blob["scheduler"])
        torch.set_rng_state(blob["torch_rng"])
        random.setstate((3, tuple(blob["python_rng"]), None))
        state = saved
        if state["step_in_epoch"] == 0 and state["best_epoch"] is not None and state["best_epoch"] == state["epoch"] - 1:
            _save_best(work)  # current/ is that epoch's end model; (re)link it as best
        log.info("resuming RM training from %s (epoch %d, step %d)", work, state["epoch"], state["step_in_epoch"])
    else:
        work.mkdir(parents=True, exist_ok=True)

    balance = {"train": class_balance(train), "val": class_balance(val)}
    log.info(
        "RM data: %d train pairs (%.0f%% positive), %d val pairs (%.0f%% positive), %d/%d seeds in val",
        len(train), 100 * balance["train"]["positive_rate"], len(val), 100 * balance["val"]["positive_rate"],
        len({p.seed_id for p in val}), len({p.seed_id for p in pairs}),
    )  # fmt: skip

    bar = tqdm(total=total_steps, initial=state["global_step"], desc="train-rm", unit="step", disable=not progress)
    try:
        while not state["done"] and state["epoch"] < cfg.epochs:
            order = _epoch_order(len(tr), cfg.seed, state["epoch"])
            batches = [order[s : s + bs] for s in range(0, len(order), bs)]
            for bi in range(state["step_in_epoch"], len(batches)):
                b, y = tr.batch(batches[bi], device)
                with autocast(prec, device):
                    logits = model(**b).logits[:, 0]
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), y)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                state["global_step"] += 1
                state["step_in_epoch"] = bi + 1
                state["step_losses"].append(round(loss.item(), 6))
                state["running_loss"] += loss.item() * len(batches[bi])
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.4f}", epoch=state["epoch"])
                if stop_after_steps is not None and state["global_step"] >= stop_after_steps and bi + 1 < len(batches):
                    _save_state(work, model, optimizer, scheduler, state)
                    log.info("stopping after %d steps as asked; rerun to resume", state["global_step"])
                    return None
                if save_every and state["global_step"] % save_every == 0 and bi + 1 < len(batches):
                    _save_state(work, model, optimizer, scheduler, state)
            state["epoch_train_loss"].append(state["running_loss"] / len(tr))
            _, val_loss = _predict(model, va, bs * 2, device, prec)
            state["epoch_val_loss"].append(None if math.isnan(val_loss) else val_loss)
            improved = (not math.isnan(val_loss)) and (state["best_val_loss"] is None or val_loss < state["best_val_loss"])
            if improved or len(va) == 0:
                state["best_val_loss"] = None if math.isnan(val_loss) else val_loss
                state["best_epoch"] = state["epoch"]
                state["bad_epochs"] = 0
            else:
                state["bad_epochs"] += 1
            log.info(
                "epoch %d: train loss %.4f, val loss %s", state["epoch"], state["epoch_train_loss"][-1],
                "n/a" if math.isnan(val_loss) else f"{val_loss:.4f}",
            )  # fmt: skip
            state["epoch"] += 1
            state["step_in_epoch"] = 0
            state["running_loss"] = 0.0
            if state["bad_epochs"] >= cfg.patience:
                log.info("early stopping: val loss did not improve for %d epochs", cfg.patience)
                state["done"] = True
            # best/ is linked from current/ after the state is on disk; a kill in between is
            # repaired on resume (see the step_in_epoch == 0 check there).
            _save_state(work, model, optimizer, scheduler, state)
            if state["best_epoch"] == state["epoch"] - 1:
                _save_best(work)
    finally:
        bar.close()

    return _finish(work, out, tok, cfg, state, val, va, balance, dropped, device, overwrite, prec,
                   inputs=(pairs_path, audit_path))


def _listing(names: list[str], most: int = 5) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def check_out(out: Path, overwrite: bool, inputs=()) -> None:
    """Refuse an ``--out`` whose replacement would delete what the user keeps there.

    ``out`` may be new, an empty directory, or (with ``overwrite``) a checkpoint this command
    wrote and nothing else: its ``selfif_rm.json`` lists the files it wrote (``files``), and any
    other entry (the user's notes, the very ``pairs.jsonl`` being trained from) is refused.
    A checkpoint from before that list may hold plain files only. A file, or a directory that is
    not a checkpoint, is never replaced, with or without ``--overwrite``.
    """
    if not out.exists() and not out.is_symlink():
        return
    if out.is_symlink() or not out.is_dir():
        raise InputError(out, None, "is not a directory (a file or a link); --out names the reward-model directory to write")
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return
    if META_FILE not in entries:
        raise InputError(out, None, f"is not a reward-model directory (no {META_FILE}; holds {_listing(entries)}); "
                                    "--out must be a new or empty directory, or a checkpoint written by train-rm")
    if not overwrite:
        raise FileExistsError(f"{out} already holds a trained RM; pass --overwrite to retrain")
    meta = read_json(out / META_FILE)
    listed = meta.get("files") if isinstance(meta, dict) else None
    own = set(listed) | {META_FILE} if isinstance(listed, list) else None
    foreign = [e for e in entries if (own is not None and e not in own) or (out / e).is_symlink() or not (out / e).is_file()]
    root = out.resolve()
    foreign += [str(i) for i in inputs if i is not None and root in Path(i).resolve().parents and Path(i).name not in foreign]
    if foreign:
        raise InputError(out, None, f"holds what a reward-model checkpoint does not ({_listing(sorted(set(foreign)))}), "
                                    "which --overwrite would delete; move it elsewhere or choose another --out")


def _replace_dir(tmp: Path, out: Path) -> None:
    """Put the finished checkpoint ``tmp`` at ``out``; an existing ``out`` is moved aside first and
    deleted only once ``tmp`` is in place, so a failed rename keeps the earlier checkpoint."""
    if not out.exists():
        tmp.rename(out)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.replaced-", dir=out.parent))
    old = aside / out.name
    out.rename(old)
    try:
        tmp.rename(out)
    except BaseException:
        old.rename(out)
        aside.rmdir()
        raise
    shutil.rmtree(aside)


def _finish(work, out, tok, cfg, state, val, va, balance, dropped, device, overwrite, prec="fp32", inputs=()) -> dict[str, Any]:
    """Evaluate the best model on val, write the checkpoint directory atomically, drop the work dir."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(work / "best")).to(device)
    # fp32, as ConstraintRM scores at use time: the reported metrics are the checkpoint's own
    probs, val_loss = _predict(model, va, cfg.batch_size * 2, device)
    val_metrics = compute_metrics(probs, [p.label for p in val], [p.verifier_label for p in val])
    metrics: dict[str, Any] = {
        "backbone": cfg.backbone,
        "precision": prec,  # resolved (selfif.precision)
        "template_id": TEMPLATE_ID,
        "config": cfg.model_dump(mode="json"),
        "class_balance": balance,
        "audit_dropped_types": dropped,
        "epochs_run": state["epoch"],
        "best_epoch": state["best_epoch"],
        "early_stopped": state["done"] and state["epoch"] < cfg.epochs,
        "global_steps": state["global_step"],
        "epoch_train_loss": state["epoch_train_loss"],
        "epoch_val_loss": state["epoch_val_loss"],
        "step_losses": state["step_losses"],
        "val": val_metrics | {"loss": None if math.isnan(val_loss) else val_loss},
    }
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        atomic_write_json(tmp / RM_METRICS, metrics)
        reliability_plot(probs, [p.label for p in val], tmp / RM_RELIABILITY)
        write_jsonl(
            tmp / "val_predictions.jsonl",
            ({"pair_id": p.pair_id, "seed_id": p.seed_id, "constraint_id": p.constraint.id, "label": p.label,
              "verifier_label": p.verifier_label, "prob": pr} for p, pr in zip(val, probs)),
        )  # fmt: skip
        # last, listing what the checkpoint holds: --overwrite replaces exactly that (check_out)
        write_meta(tmp, backbone=cfg.backbone, include_instruction=cfg.include_instruction, max_length=cfg.max_length,
                   extra={"precision": prec, "files": sorted(p.name for p in tmp.iterdir())})
        check_out(out, overwrite, inputs)  # again: the directory may have changed during training
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(work, ignore_errors=True)
    return metrics


def format_report(metrics: dict[str, Any]) -> str:
    """Human-readable summary of ``metrics.json`` (what ``selfif train-rm`` prints)."""

    def f(x):
        return "n/a" if x is None else f"{x:.4f}"

    v = metrics["val"]
    cb = metrics["class_balance"]
    lines = [
        f"backbone {metrics['backbone']}, {metrics['epochs_run']} epochs ({metrics['global_steps']} steps), best epoch {metrics['best_epoch']}",
        f"train pairs {cb['train']['n']} ({cb['train']['positive_rate']:.1%} positive); val pairs {cb['val']['n']} ({cb['val']['positive_rate']:.1%} positive)",
        f"val loss {f(v.get('loss'))}  accuracy {f(v.get('accuracy'))}  ROC AUC {f(v.get('roc_auc'))}  Brier {f(v.get('brier'))}  ECE {f(v.get('ece'))}",
    ]
    hv = v.get("hard_vs_verifier")
    if hv:
        lines.append(
            f"hard-constraint val pairs vs verifier truth (n={hv['n']}): RM accuracy {f(hv['rm_accuracy'])}, "
            f"pseudo-label accuracy {f(hv['pseudo_label_accuracy'])}"
        )
    if metrics["audit_dropped_types"]:
        lines.append(f"dropped by audit filter: {', '.join(metrics['audit_dropped_types'])}")
    return "\n".join(lines)
