"""IFEval's ``punctuation:no_comma`` type: verifier, graded score, repair and table entry."""

from __future__ import annotations

import re

from selfif.constraints.ifeval.common import _NO_KW, _t


# ---------------------------------------------------------------- punctuation:no_comma

def v_no_comma(response: str) -> bool:
    return "," not in response


def g_no_comma(response: str) -> float:
    """1 / (1 + number of commas)."""
    return 1.0 / (1.0 + response.count(","))


def r_no_comma(response: str) -> str | None:
    """Drop thousands separators and commas."""
    return re.sub(r"(?<=\d),(?=\d{3})", "", response).replace(",", "")


NO_COMMA = _t("punctuation:no_comma", verify=v_no_comma, templates=(
    "In your entire response, refrain from the use of any commas.",
    "Do not use any commas in your answer.",
    "Write your reply without a single comma.",
), sample=_NO_KW, graded=g_no_comma, repair=r_no_comma, description="No comma.")


TYPES = (NO_COMMA,)
