"""IFEval's ``detectable_format:*`` types: bullet lists, a fixed answer option, highlights,
numbered sections, JSON and a ``<<title>>``. Each type's sampler, verifier, graded score, repair
and table entry stand together."""

from __future__ import annotations

import json
import re

from selfif.constraints import edits as E
from selfif.constraints import text as T
from selfif.constraints.base import RANK_EDGE, RANK_LAYOUT, RANK_MARKUP, RANK_WRAP
from selfif.constraints.ifeval.common import _NO_KW, _all, _compiled, _non_negative, _regex, _t


# ---------------------------------------------------------------- detectable_format:number_bullet_lists

def count_bullets(response: str) -> int:
    r"""Official bullet count, ``^\s*\*[^\*].*$`` plus ``^\s*-.*$`` (MULTILINE), in linear time.

    A match may start on a blank line and run on to the first non-blank line, so each non-blank
    line counts at most once. A line that is just ``*`` takes the newline as its ``[^\*]`` and
    swallows the following line, which therefore cannot count as a ``*`` bullet itself.
    """
    lines = response.split("\n")
    dashes = 0
    stars = 0
    skip_star_until = -1
    last = len(lines) - 1
    for i, line in enumerate(lines):
        s = line.lstrip()
        if not s:
            continue
        if s[0] == "-":
            dashes += 1
        if i <= skip_star_until or s[0] != "*":
            continue
        if len(s) >= 2:
            stars += s[1] != "*"
        elif i < last:  # a lone "*": the newline is its [^*] and the next line is consumed
            stars += 1
            skip_star_until = i + 1
    return dashes + stars


def v_number_bullet_lists(response: str, *, num_bullets: int) -> bool:
    return count_bullets(response) == num_bullets


def r_number_bullet_lists(response: str, *, num_bullets: int) -> str | None:
    """A list with at least N items keeps the text up to its Nth item, items as ``* `` bullets,
    plus what follows the last item (a conclusion); otherwise the lines (or sentences) are
    recast as N bullets."""
    if num_bullets < 1:
        return None
    # a bare marker ("* ", "1.") is no item; dropped, since IFEval may still count it as a bullet
    lines = [ln for ln in response.strip().split("\n") if not E.is_list_item(ln) or E.lines_of(ln)]
    items = [i for i, line in enumerate(lines) if E.is_list_item(line)]
    if len(items) >= num_bullets:
        head = ["* " + E.lines_of(line)[0] if E.is_list_item(line) else line for line in lines[: items[num_bullets - 1] + 1]]
        return "\n".join(head + lines[items[-1] + 1 :]).strip()
    units = E.lines_of(response)
    if len(units) < num_bullets:
        units = E.sentences_of(response)
    groups = E.group([u.lstrip("*-+• ") for u in units], num_bullets, " ")
    return "\n".join("* " + g for g in groups) if groups else None


NUMBER_BULLET_LISTS = _t("detectable_format:number_bullet_lists", verify=v_number_bullet_lists, templates=(
    "Your answer must contain exactly {num_bullets} bullet points. Use markdown bullet points such as:\n* This is point 1.",
    "Give exactly {num_bullets} markdown bullet points (lines starting with *).",
    "Format your reply as a list of exactly {num_bullets} bullets, each line beginning with '* '.",
), sample=lambda rng: {"num_bullets": rng.randint(1, 6)}, args={"num_bullets": int},
    validate=_non_negative("num_bullets"), repair=r_number_bullet_lists, repair_rank=RANK_LAYOUT,
    description="Exactly N bullet lines.")


# ---------------------------------------------------------------- detectable_format:constrained_response

CONSTRAINED_OPTIONS: tuple[str, ...] = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


def v_constrained_response(response: str) -> bool:
    return any(opt in response for opt in CONSTRAINED_OPTIONS)


def r_constrained_response(response: str) -> str | None:
    """Append the option the response leans to (yes/no from its first word), else maybe."""
    first = (T.words(response.lower()) or ("",))[0]
    option = {"yes": 0, "no": 1}.get(first, 2)
    return response.rstrip() + "\n\n" + CONSTRAINED_OPTIONS[option]


CONSTRAINED_RESPONSE = _t("detectable_format:constrained_response", verify=v_constrained_response, templates=(
    "Answer with one of the following options: ('My answer is yes.', 'My answer is no.', 'My answer is maybe.')",
    'Your reply must include one of: "My answer is yes.", "My answer is no.", "My answer is maybe."',
    'Respond with exactly one of these sentences: "My answer is yes.", "My answer is no.", or "My answer is maybe."',
), sample=_NO_KW, repair=r_constrained_response, repair_rank=RANK_EDGE,
    description="One of the fixed answer options occurs.")


# ---------------------------------------------------------------- detectable_format:number_highlighted_sections

_HIGHLIGHT = re.compile(r"\*[^\n\*]*\*")


_DOUBLE_HIGHLIGHT = re.compile(r"\*\*[^\n\*]*\*\*")


def count_highlights(response: str) -> int:
    n = sum(1 for h in _HIGHLIGHT.findall(response) if h.strip("*").strip())
    n += sum(1 for h in _DOUBLE_HIGHLIGHT.findall(response) if h.removeprefix("**").removesuffix("**").strip())
    return n


def v_number_highlighted_sections(response: str, *, num_highlights: int) -> bool:
    return count_highlights(response) >= num_highlights


_HIGHLIGHTABLE = re.compile(r"(?<=[ \t])([A-Za-z][A-Za-z'\-]{3,})(?=[ \t.,;:!?])")


def r_number_highlighted_sections(response: str, *, num_highlights: int) -> str | None:
    """Bold (``**word**``, which IFEval counts as a highlight and which never reads as a bullet)
    the longest words that are not the first of a line, one per sentence where possible."""
    missing = num_highlights - count_highlights(response)
    lines = response.split("\n")
    spots = []  # (line, start, end, length)
    for li, line in enumerate(lines):
        if "*" in line.lstrip().removeprefix("* "):  # a bullet's own mark is fine
            continue
        for m in _HIGHLIGHTABLE.finditer(line):
            spots.append((li, m.start(), m.end(), m.end() - m.start()))
    if len(spots) < missing:
        return None
    chosen = sorted(sorted(spots, key=lambda s: -s[3])[:missing], key=lambda s: (s[0], -s[1]))
    for li, a, b, _ in chosen:  # right to left within a line keeps the offsets valid
        line = lines[li]
        lines[li] = line[:a] + "**" + line[a:b] + "**" + line[b:]
    return "\n".join(lines)


NUMBER_HIGHLIGHTED_SECTIONS = _t("detectable_format:number_highlighted_sections", verify=v_number_highlighted_sections, templates=(
    "Highlight at least {num_highlights} sections in your answer with markdown, i.e. *highlighted section*.",
    "Use markdown to highlight at least {num_highlights} parts of your reply, like *this*.",
    "Mark at least {num_highlights} sections as highlighted with asterisks, e.g. *important part*.",
), sample=lambda rng: {"num_highlights": rng.randint(1, 4)}, args={"num_highlights": int},
    validate=_non_negative("num_highlights"), repair=r_number_highlighted_sections, repair_rank=RANK_MARKUP,
    description="At least N *highlighted* spans.")


# ---------------------------------------------------------------- detectable_format:multiple_sections

SECTION_SPLITTERS: tuple[str, ...] = ("Section", "SECTION", "Part", "PART", "Chapter", "Step")


def v_multiple_sections(response: str, *, section_spliter: str, num_sections: int) -> bool:
    pat = _compiled(r"\s?" + section_spliter.strip() + r"\s?\d+\s?")
    return len(pat.split(response)) - 1 >= num_sections


def r_multiple_sections(response: str, *, section_spliter: str, num_sections: int) -> str | None:
    """Regroup the paragraphs (or sentences) into N sections headed "<splitter> i"."""
    groups = E.regroup(response, num_sections, "\n\n")
    if not groups:
        return None
    name = section_spliter.strip()
    return "\n\n".join(f"{name} {i}\n{g}" for i, g in enumerate(groups, 1))


MULTIPLE_SECTIONS = _t("detectable_format:multiple_sections", verify=v_multiple_sections, templates=(
    "Your response must have {num_sections} sections. Mark the beginning of each section with {section_spliter} X, such as:\n"
    "{section_spliter} 1\n[content of section 1]\n{section_spliter} 2\n[content of section 2]",
    "Split your answer into {num_sections} sections, each starting with '{section_spliter} N' (N = 1, 2, ...).",
    "Organise the reply in {num_sections} parts headed {section_spliter} 1, {section_spliter} 2, and so on.",
), sample=lambda rng: {"section_spliter": rng.choice(SECTION_SPLITTERS), "num_sections": rng.randint(2, 5)},
    args={"section_spliter": str, "num_sections": int}, validate=_all(_non_negative("num_sections"), _regex("section_spliter")),
    repair=r_multiple_sections, repair_rank=RANK_LAYOUT, description="At least N '<splitter> <number>' section marks.")


# ---------------------------------------------------------------- detectable_format:json_format

def v_json_format(response: str) -> bool:
    value = (
        response.strip()
        .removeprefix("```json")
        .removeprefix("```Json")
        .removeprefix("```JSON")
        .removeprefix("```")
        .removesuffix("```")
        .strip()
    )
    try:
        json.loads(value)
    except ValueError:
        return False
    except RecursionError:  # deeper than the parser can go: the official checker crashes here
        return False
    return True


def r_json_format(response: str) -> str | None:
    """The text as the one string field of a JSON object (key in the text's case)."""
    text = response.strip()
    key = "ANSWER" if text.isupper() else "answer"
    return json.dumps({key: text}, ensure_ascii=False)


JSON_FORMAT = _t("detectable_format:json_format", verify=v_json_format, templates=(
    "Entire output should be wrapped in JSON format. You can use markdown ticks such as ```.",
    "Return your whole answer as valid JSON (a ```json code fence is fine).",
    "Format the complete response as a JSON object.",
), sample=_NO_KW, repair=r_json_format, repair_rank=RANK_WRAP + 5,
    description="The response (optionally fenced) parses as JSON.")


# ---------------------------------------------------------------- detectable_format:title

def has_title(response: str) -> bool:
    r"""Any official ``<<[^\n]+>>`` match with non-blank content, in linear time.

    Per line at most one match exists: from the first ``<<`` greedily to the last ``>>``.
    """
    for line in response.split("\n"):
        i = line.find("<<")
        if i == -1:
            continue
        k = line.rfind(">>")
        if k >= i + 3 and line[i : k + 2].lstrip("<").rstrip(">").strip():
            return True
    return False


def v_title(response: str) -> bool:
    return has_title(response)


def g_title(response: str) -> float:
    """1 for a proper ``<<title>>``; 0.5 for angle brackets that do not form one; 0.25 for a
    markdown heading (the right idea, wrong markup)."""
    if has_title(response):
        return 1.0
    if "<<" in response or ">>" in response:
        return 0.5
    if re.search(r"(?m)^\s*#{1,6}\s+\S", response):
        return 0.25
    return 0.0


def r_title(response: str) -> str | None:
    """Prepend ``<<title>>``: a leading markdown heading becomes the title, else the opening words
    of the first sentence that is not a pleasantry ("Sure, ...")."""
    lines = response.strip().split("\n")
    heading = re.match(r"#{1,6}\s+(.*\S)", lines[0])
    if heading:
        return "\n".join([f"<<{heading.group(1).strip('#* ')}>>", *lines[1:]])
    words = E.title_words(response)
    return f"<<{words}>>\n\n{response.strip()}" if words else None


TITLE = _t("detectable_format:title", verify=v_title, templates=(
    "Your answer must contain a title, wrapped in double angular brackets, such as <<poem of joy>>.",
    "Give your reply a title in double angle brackets, like <<my title>>.",
    "Start with a title written as <<Title>>.",
), sample=_NO_KW, graded=g_title, repair=r_title, repair_rank=RANK_EDGE,
    description="A non-empty <<title>> occurs.")


TYPES = (NUMBER_BULLET_LISTS, CONSTRAINED_RESPONSE, NUMBER_HIGHLIGHTED_SECTIONS, MULTIPLE_SECTIONS, JSON_FORMAT, TITLE)
