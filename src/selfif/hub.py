"""What to say when a name is neither an alias nor a local path and the Hugging Face hub cannot
supply it: one line naming what was tried and what is available offline, instead of the
``OSError``/``ConnectionError`` traceback the loaders raise (often minutes later, after retries).
"""

from __future__ import annotations


def offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set: the hub is then unreachable by definition."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def reason(e: Exception) -> str:
    """The first line of a hub error, shortened (their messages span paragraphs)."""
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    return first if len(first) <= 160 else first[:157] + "..."


def not_found(name: str, what: str, available: list[str], err: Exception | None = None) -> str:
    """``<what> not found locally ... ; available offline: ...`` as one line (the caller prefixes the name)."""
    if offline():
        why = "not in the local Hugging Face cache, and the hub cannot be reached (HF_HUB_OFFLINE=1)"
    else:
        why = f"and the Hugging Face hub could not supply it ({reason(err) if err else 'unreachable'})"
    return f"{what} not found locally (no such alias or path), {why}; available offline: {', '.join(available)}"


def check_model(name: str, aliases: list[str]) -> str:
    """``name`` unchanged if the hub (or its local cache) has the model's ``config.json``;
    otherwise raise ``LookupError`` with the one-line reason (``selfif.models`` turns it into
    ``ModelNotAvailable``; this module imports nothing of selfif, so no import cycle). Fetching
    one small file is what every loader would do first anyway."""
    from huggingface_hub import hf_hub_download

    try:
        hf_hub_download(name, "config.json")
    except Exception as e:  # noqa: BLE001 - hub errors come in many types; all mean "cannot load"
        raise LookupError(f"{name}: " + not_found(name, "model", aliases + ["a local model directory"], e)) from None
    return name
