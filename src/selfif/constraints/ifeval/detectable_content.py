"""IFEval's ``detectable_content:*`` types: placeholders and a postscript. Each type's sampler,
verifier, repair and table entry stand together."""

from __future__ import annotations

import re

from selfif.constraints.base import RANK_EDGE, RANK_MARKUP
from selfif.constraints.ifeval.common import _compiled, _non_negative, _regex, _t


# ---------------------------------------------------------------- detectable_content:number_placeholders

def count_placeholders(response: str) -> int:
    r"""Number of non-overlapping ``\[.*?\]`` matches, in linear time (``.`` stops at newlines)."""
    count = 0
    for line in response.split("\n"):
        pos = line.find("[")
        while pos != -1:
            close = line.find("]", pos + 1)
            if close == -1:
                break
            count += 1
            pos = line.find("[", close + 1)
    return count


def v_number_placeholders(response: str, *, num_placeholders: int) -> bool:
    return count_placeholders(response) >= num_placeholders


_PLACEHOLDER_NAMES = ("name", "date", "address", "email", "phone number", "company", "city", "time")


def r_number_placeholders(response: str, *, num_placeholders: int) -> str | None:
    """A closing line with the missing [name]-style placeholders (at most eight)."""
    missing = num_placeholders - count_placeholders(response)
    if missing > len(_PLACEHOLDER_NAMES):
        return None
    fields = " and ".join(f"[{n}]" for n in _PLACEHOLDER_NAMES[:missing])
    return response.rstrip() + f"\nFill in {fields}."


NUMBER_PLACEHOLDERS = _t("detectable_content:number_placeholders", verify=v_number_placeholders, templates=(
    "The response must contain at least {num_placeholders} placeholders in square brackets, such as [address].",
    "Include at least {num_placeholders} placeholders written like [name].",
    "Leave at least {num_placeholders} fill-in placeholders in square brackets, e.g. [date].",
), sample=lambda rng: {"num_placeholders": rng.randint(1, 5)}, args={"num_placeholders": int},
    validate=_non_negative("num_placeholders"), repair=r_number_placeholders, repair_rank=RANK_MARKUP,
    description="At least N [placeholders].")


# ---------------------------------------------------------------- detectable_content:postscript

POSTSCRIPT_MARKERS: tuple[str, ...] = ("P.S.", "P.P.S")


def v_postscript(response: str, *, postscript_marker: str) -> bool:
    marker = postscript_marker.strip()
    if marker == "P.P.S":
        pat = r"p\.\s?p\.\s?s"
    elif marker == "P.S.":
        pat = r"p\.\s?s\."
    else:
        pat = marker.lower()
    # The official r"\s*<marker>.*$" (MULTILINE) matches iff <marker> occurs: the affixes always match.
    return _compiled(pat, re.MULTILINE).search(response.lower()) is not None


def r_postscript(response: str, *, postscript_marker: str) -> str | None:
    """Append a short postscript that starts with the marker."""
    marker = postscript_marker.strip()
    return response.rstrip() + f"\n\n{marker} I hope this helps."


POSTSCRIPT = _t("detectable_content:postscript", verify=v_postscript, templates=(
    "At the end of your response, please explicitly add a postscript starting with {postscript_marker}",
    "Finish with a postscript that begins with {postscript_marker}",
    "Add a note at the very end that starts with {postscript_marker}",
), sample=lambda rng: {"postscript_marker": rng.choice(POSTSCRIPT_MARKERS)}, args={"postscript_marker": str},
    validate=_regex("postscript_marker"), repair=r_postscript, repair_rank=RANK_EDGE,
    description="A postscript marker occurs.")


TYPES = (NUMBER_PLACEHOLDERS, POSTSCRIPT)
