"""IFEval's ``language:response_language`` type: sampler, verifier and table entry (no repair)."""

from __future__ import annotations

from selfif.constraints import text as T
from selfif.constraints.ifeval.common import LANGUAGES, _t


# ---------------------------------------------------------------- language:response_language

def v_response_language(response: str, *, language: str) -> bool:
    lang = T.detect_language(response)
    return lang == T.UNDETECTABLE or lang == language  # undetectable counts as followed (official)


NO_REPAIR_LANGUAGE = "another language needs a translation, not an edit"


RESPONSE_LANGUAGE = _t("language:response_language", verify=v_response_language, templates=(
    "Your ENTIRE response should be in {language_name}; no other language is allowed.",
    "Answer only in {language_name}.",
    "Write the whole reply in the {language_name} language.",
), sample=lambda rng: {"language": rng.choice([c for c in LANGUAGES if c != "en"])}, args={"language": str},
    no_repair=NO_REPAIR_LANGUAGE, description="langdetect says the language.")


TYPES = (RESPONSE_LANGUAGE,)
