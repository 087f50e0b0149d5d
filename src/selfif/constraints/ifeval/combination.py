"""IFEval's ``combination:*`` types: two responses, and repeating the request first. Each type's
verifier, repair and table entry stand together."""

from __future__ import annotations

import re

from selfif.constraints import edits as E
from selfif.constraints.base import RANK_LAYOUT, RANK_PREFIX, Arg
from selfif.constraints.ifeval.common import _NO_KW, _t


# ---------------------------------------------------------------- combination:two_responses

def v_two_responses(response: str) -> bool:
    parts = response.split("******")
    valid = []
    for i, p in enumerate(parts):
        if not p.strip():
            if i != 0 and i != len(parts) - 1:
                return False
        else:
            valid.append(p)
    return len(valid) == 2 and valid[0].strip() != valid[1].strip()


_STARS6 = re.compile(r"\*{6,}")


def r_two_responses(response: str) -> str | None:
    """Split the paragraphs (or sentences) into two halves separated by ``******``."""
    halves = E.regroup(_STARS6.sub("", response), 2, "\n\n")
    if not halves or halves[0].strip() == halves[1].strip():
        return None
    return f"{halves[0]}\n******\n{halves[1]}"


TWO_RESPONSES = _t("combination:two_responses", verify=v_two_responses, templates=(
    "Give two different responses. Responses and only responses should be separated by 6 asterisk symbols: ******.",
    "Write two distinct answers separated by a line of six asterisks (******).",
    "Provide two alternative replies and put ****** between them.",
), sample=_NO_KW, repair=r_two_responses, repair_rank=RANK_LAYOUT,
    description="Exactly two different parts around ******.")


# ---------------------------------------------------------------- combination:repeat_prompt

def v_repeat_prompt(response: str, *, prompt_to_repeat: str) -> bool:
    return response.strip().lower().startswith(prompt_to_repeat.strip().lower())


def r_repeat_prompt(response: str, *, prompt_to_repeat: str) -> str | None:
    """Prefix the request verbatim and a blank line."""
    return f"{prompt_to_repeat.strip()}\n\n{response.strip()}"


REPEAT_PROMPT = _t("combination:repeat_prompt", verify=v_repeat_prompt, templates=(
    "First repeat the request word for word without change, then give your answer (1. do not say any words or "
    "characters before repeating the request; 2. the request you need to repeat does not include this sentence)",
    "Begin by restating the request exactly as written, then answer it (do not repeat this sentence).",
    "Copy the request verbatim at the start of your reply (without this instruction), and only then respond.",
), sample=_NO_KW, args={"prompt_to_repeat": Arg(str, required=False)}, fill_from_prompt="prompt_to_repeat",
    repair=r_repeat_prompt, repair_rank=RANK_PREFIX, description="Starts with the request text.")


TYPES = (TWO_RESPONSES, REPEAT_PROMPT)
