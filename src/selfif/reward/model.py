"""The constraint-wise binary reward model: backbone loading and batched scoring.

A checkpoint is an ordinary ``AutoModelForSequenceClassification`` directory (one logit,
``num_labels=1``) plus ``selfif_rm.json``, which records what scoring must reproduce exactly:
the backbone, the input template id, whether the instruction is part of the input, and the
maximum length. ``ConstraintRM.score`` returns ``sigmoid(logit)`` = P(response satisfies
constraint).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from selfif.layout import RM_META as META_FILE  # the name lives in selfif.layout
from selfif.reward import template
from selfif.reward.template import TEMPLATE_ID, check_template

Item = tuple[str, str] | tuple[str, str, str | None] | dict[str, Any]
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


def load_backbone(name: str):
    """``(model, tokenizer)`` of a classification backbone with one output logit.

    Decoder backbones (SmolLM2) have no pad token; the classification head finds the last real
    token through ``config.pad_token_id``, so it is set here (to EOS when missing).
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from selfif.models import resolve

    path = resolve(name)
    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, problem_type="multi_label_classification")
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id
    return model, tok


def normalize_items(items: Sequence[Item]) -> list[tuple[str, str, str | None]]:
    """Accept ``(response, constraint)``, ``(response, constraint, instruction)`` or dicts."""
    out: list[tuple[str, str, str | None]] = []
    for n, it in enumerate(items):
        if isinstance(it, dict):
            try:
                out.append((str(it["response"]), str(it["constraint"]), it.get("instruction")))
            except KeyError as e:
                raise ValueError(f"item {n}: missing key {e.args[0]!r} (need response, constraint[, instruction])") from None
        elif isinstance(it, (tuple, list)) and len(it) in (2, 3):
            out.append((str(it[0]), str(it[1]), it[2] if len(it) == 3 else None))
        else:
            raise ValueError(f"item {n}: expected (response, constraint[, instruction]), got {it!r:.80}")
    return out


class ConstraintRM:
    """A loaded reward model. Thread-compatible for scoring (no state changes while scoring)."""

    def __init__(self, model, tokenizer, meta: dict[str, Any], device: str = "cpu"):
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.meta = meta
        self.device = device
        self.max_length = int(meta["max_length"])
        self.include_instruction = bool(meta["include_instruction"])

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> "ConstraintRM":
        """Load a ``selfif train-rm`` checkpoint directory."""
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = Path(path)
        meta_path = path / META_FILE
        if not meta_path.exists():
            raise FileNotFoundError(f"{path} is not a selfif reward-model checkpoint (missing {META_FILE})")
        from selfif.io import InputError, read_json

        meta = read_json(meta_path)  # located errors: not UTF-8, not JSON
        if not isinstance(meta, dict) or not {"max_length", "include_instruction"} <= set(meta):
            raise InputError(meta_path, None, "expected an object with max_length and include_instruction (written by `selfif train-rm`)")
        check_template(meta.get("template_id", "<none>"))
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"

        if not any((path / w).exists() for w in WEIGHT_FILES):  # a located error, not from_pretrained's OSError
            raise InputError(path / WEIGHT_FILES[0], None, "reward-model weights are missing (retrain with `selfif train-rm`)")
        from safetensors import SafetensorError

        try:
            tok = AutoTokenizer.from_pretrained(str(path))
            model = AutoModelForSequenceClassification.from_pretrained(str(path))
        except (OSError, ValueError, SafetensorError) as e:  # a truncated or corrupt file
            raise InputError(path, None, f"cannot load the reward model ({str(e).strip().splitlines()[0][:200]})") from None
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        tok.padding_side = "right"
        return cls(model, tok, meta, device)

    def score(self, items: Sequence[Item], batch_size: int = 32) -> list[float]:
        """P(satisfies) for each item, in input order.

        Items are sorted by tokenized length and padded per batch (dynamic padding), so a few
        long responses do not make every batch long.
        """
        import torch

        triples = normalize_items(items)
        if not triples:
            return []
        enc = template.encode(self.tokenizer, triples, max_length=self.max_length, include_instruction=self.include_instruction)
        order = sorted(range(len(triples)), key=lambda i: len(enc["input_ids"][i]))
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
        out = [0.0] * len(triples)
        with torch.inference_mode():
            for start in range(0, len(order), max(1, batch_size)):
                idx = order[start : start + batch_size]
                feats = [{k: enc[k][i] for k in keys} for i in idx]
                batch = self.tokenizer.pad(feats, return_tensors="pt").to(self.device)
                logits = self.model(**batch).logits[:, 0].float()
                for i, p in zip(idx, torch.sigmoid(logits).tolist()):
                    out[i] = p
        return out


def write_meta(path: Path, *, backbone: str, include_instruction: bool, max_length: int, extra: dict | None = None) -> None:
    from selfif.io import atomic_write_json

    atomic_write_json(
        path / META_FILE,
        {
            "backbone": backbone,
            "template_id": TEMPLATE_ID,
            "include_instruction": include_instruction,
            "max_length": max_length,
            "num_labels": 1,
            "loss": "bce_with_logits",
            **(extra or {}),
        },
    )
