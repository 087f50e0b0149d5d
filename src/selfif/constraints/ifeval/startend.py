"""IFEval's ``startend:*`` types: an end phrase, and quotation marks around the whole response.
Each type's sampler, verifier, graded score, repair and table entry stand together. No
``TYPES`` tuple here: IFEval's order puts other groups between the two (see the package's)."""

from __future__ import annotations

from selfif.constraints import edits as E
from selfif.constraints import text as T
from selfif.constraints.base import RANK_EDGE, RANK_WRAP
from selfif.constraints.ifeval.common import _NO_KW, _t


# ---------------------------------------------------------------- startend:end_checker

END_PHRASES: tuple[str, ...] = (
    "Is there anything else I can help with?",
    "Any other questions?",
    "Let me know if you have additional questions.",
    "Hope this helps!",
    "That is all for now.",
    "Thank you for reading.",
    "Does this make sense?",
    "Peace out.",
)


def v_end_checker(response: str, *, end_phrase: str) -> bool:
    return response.strip().strip('"').lower().endswith(end_phrase.strip().lower())


def g_end_checker(response: str, *, end_phrase: str) -> float:
    """1 when the response ends with the phrase; 0.6 when the phrase occurs but not at the end;
    else up to 0.5 for the share of the phrase's words found in the response's tail."""
    if v_end_checker(response, end_phrase=end_phrase):
        return 1.0
    low = response.lower()
    phrase = end_phrase.strip().lower()
    if phrase and phrase in low:
        return 0.6
    want = T.words(phrase)
    if not want:
        return 0.0
    tail = set(T.words(low)[-2 * len(want) :])
    return 0.5 * sum(1 for w in want if w in tail) / len(want)


def r_end_checker(response: str, *, end_phrase: str) -> str | None:
    """Append the phrase as the closing sentence."""
    return E.append_sentence(response.rstrip().rstrip('"').rstrip(), end_phrase.strip())


END_CHECKER = _t("startend:end_checker", verify=v_end_checker, templates=(
    "Finish your response with this exact phrase: {end_phrase} No other words should follow this phrase.",
    "End your reply with the exact words \"{end_phrase}\" and nothing after them.",
    "The last words of your answer must be: {end_phrase}",
), sample=lambda rng: {"end_phrase": rng.choice(END_PHRASES)}, args={"end_phrase": str}, graded=g_end_checker,
    repair=r_end_checker, repair_rank=RANK_EDGE + 1, description="Ends with the phrase.")


# ---------------------------------------------------------------- startend:quotation

def v_quotation(response: str) -> bool:
    v = response.strip()
    return len(v) > 1 and v[0] == '"' and v[-1] == '"'


def g_quotation(response: str) -> float:
    """1 when wrapped; otherwise the share of the text between the first and last ``"`` (x0.9),
    or 0.25 when only one end carries a quote mark."""
    if v_quotation(response):
        return 1.0
    s = response.strip()
    if not s:
        return 0.0
    if s.count('"') >= 2:
        i, j = s.find('"'), s.rfind('"')
        return 0.9 * (j - i + 1) / len(s)
    return 0.25 if s[0] == '"' or s[-1] == '"' else 0.0


def r_quotation(response: str) -> str | None:
    """Wrap the text in double quotes."""
    return f'"{response.strip()}"'


QUOTATION = _t("startend:quotation", verify=v_quotation, templates=(
    "Wrap your entire response with double quotation marks.",
    'Put your whole answer inside double quotes, like "...".',
    "Enclose the complete reply in a pair of double quotation marks.",
), sample=_NO_KW, graded=g_quotation, repair=r_quotation, repair_rank=RANK_WRAP,
    description="Wrapped in double quotes.")

