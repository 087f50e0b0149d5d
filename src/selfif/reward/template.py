"""The single input template of the constraint reward model, shared by training and scoring.

The paper's released code trains and serves its classifier with two slightly different input
templates; a model scored on text laid out differently from what it was trained on is quietly
miscalibrated. Here there is exactly one function that turns ``(response, constraint text
[, instruction])`` into model input (:func:`encode`), its layout has an id
(:data:`TEMPLATE_ID`) written into every checkpoint, and loading a checkpoint with another
template id fails instead of scoring garbage.

Layout: a tokenizer *text pair*. The first segment holds the constraint (and, when
``include_instruction`` is on, the instruction before it); the second holds the response.
Truncation is ``longest_first``, so a long response is cut from its end before the constraint
text is touched. For encoders the pair gets ``[SEP]``/segment ids; for decoders the segments are
concatenated and the classification head reads the last token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

TEMPLATE_ID = "selfif-rm-pair-v1"

MAX_CHARS_PER_TOKEN = 32
"""Each text is cut to ``max_length * MAX_CHARS_PER_TOKEN`` characters before it is tokenized.
Tokenizers build the whole token list before truncating, so a 50 MB response took 24 GB and
one 8 MB item held the RM server's only worker for seconds. Ordinary tokens are far shorter
than 32 characters, so the slice still yields more than ``max_length`` tokens and truncation keeps
the same ones; only text made mostly of characters a tokenizer drops (long whitespace runs,
for WordPiece) can come out shorter."""


def first_segment(constraint: str, instruction: str | None = None, include_instruction: bool = False) -> str:
    """Text of the first segment: the constraint, optionally preceded by the instruction."""
    head = ""
    if include_instruction:
        head = f"Instruction:\n{(instruction or '').strip()}\n\n"
    return f"{head}Constraint:\n{constraint.strip()}\n\nResponse:\n"


def encode(
    tokenizer,
    items: Sequence[tuple[str, str, str | None]],
    *,
    max_length: int,
    include_instruction: bool,
    padding: bool | str = False,
    return_tensors: str | None = None,
) -> dict[str, Any]:
    """Tokenize ``(response, constraint, instruction)`` triples -- the one model-input path.

    Training calls it without padding (the collator pads per batch); scoring calls it per
    length-sorted batch with ``padding=True``.
    """
    cap = max_length * MAX_CHARS_PER_TOKEN  # cut before tokenizing: cost bounded by max_length, not by the text
    firsts = [first_segment(c[:cap], i[:cap] if i else i, include_instruction) for _, c, i in items]
    seconds = [r[:cap] for r, _, _ in items]
    return tokenizer(
        firsts,
        seconds,
        truncation="longest_first",
        max_length=max_length,
        padding=padding,
        return_tensors=return_tensors,
    )


def check_template(template_id: str) -> None:
    """Refuse a checkpoint trained with a different input layout."""
    if template_id != TEMPLATE_ID:
        raise ValueError(
            f"reward-model checkpoint uses input template {template_id!r}, but this version of selfif "
            f"formats inputs as {TEMPLATE_ID!r}; retrain the RM (selfif train-rm) with this version"
        )
