"""The 25 soft constraint types (CFBench taxonomy), judged by the reward model, not by code.

Each type is a set of parameter pools (tones, audiences, authors, formats, ...) and several
templates; sampling draws one value per pool. Their values are deliberately varied and concrete
("in the voice of a ship's captain", "for a 10-year-old"), because the reward model learns what a
constraint *means* only from the spread of instances it sees during pseudo-labelling.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from selfif.constraints.base import Arg, ConstraintError, ConstraintType


def _soft(name: str, category: str, description: str, pools: dict[str, Sequence[Any]], templates: tuple[str, ...]) -> ConstraintType:
    frozen = {k: tuple(v) for k, v in pools.items()}

    def sample(rng: random.Random) -> dict[str, Any]:
        return {k: rng.choice(v) for k, v in frozen.items()}

    def validate(kw: dict[str, Any]) -> None:
        for k, v in kw.items():
            if not isinstance(v, (str, int)) or isinstance(v, bool):
                raise ConstraintError(f"soft:{name}: kwarg {k!r} must be a string or integer, got {v!r}")

    return ConstraintType(
        id=f"soft:{name}",
        kind="soft",
        category=category,
        templates=templates,
        sample=sample,
        args={k: Arg() for k in frozen},
        description=description,
        validate=validate,
        pools=frozen,
    )


TYPES: tuple[ConstraintType, ...] = (
    _soft("lexical_content", "content", "Include specific terms.", {
        "terms": ["'sustainability' and 'trade-off'", "the phrase 'in the long run'", "the terms 'latency' and 'throughput'",
                  "the words 'curious' and 'patient'", "the expression 'rule of thumb'", "'baseline', 'variance' and 'outlier'",
                  "the idiom 'the elephant in the room'", "the technical term 'feedback loop'"],
    }, (
        "Make sure to use {terms} somewhere in your answer.",
        "Your response has to work in {terms}.",
        "Naturally include {terms} in what you write.",
    )),
    _soft("element", "content", "Mention specific entities or scenes.", {
        "element": ["a lighthouse keeper", "a rainy train station at night", "an old wooden bridge", "a street market in Marrakesh",
                    "a retired astronaut", "a cat that refuses to move", "a power outage", "a handwritten letter",
                    "a chess tournament", "the smell of fresh bread"],
    }, (
        "Your answer must feature {element}.",
        "Include {element} as part of your response.",
        "Somewhere in the reply, bring in {element}.",
    )),
    _soft("semantic", "content", "Keep a theme, tone or stance.", {
        "stance": ["an optimistic view of technology", "a sceptical stance towards the claim", "a neutral, balanced perspective",
                   "the theme of resilience", "the theme of loss and memory", "a pro-environment position",
                   "a cautious, risk-aware stance", "the idea that small habits compound"],
    }, (
        "Frame the whole answer around {stance}.",
        "Throughout your reply, keep {stance}.",
        "Write from {stance}.",
    )),
    _soft("word_count", "quantity", "Approximate length in words.", {
        "approx": ["about 50", "roughly 80", "around 120", "close to 200", "no more than 60", "between 100 and 150", "under 40"],
    }, (
        "Keep the response to {approx} words.",
        "Aim for {approx} words in total.",
        "Your answer should be {approx} words long.",
    )),
    _soft("sentence_count", "quantity", "Approximate number of sentences.", {
        "approx": ["two or three", "about five", "no more than four", "a single", "six to eight", "at most three"],
    }, (
        "Answer in {approx} sentences.",
        "Use {approx} sentences for your reply.",
        "Your response should be {approx} sentences long.",
    )),
    _soft("paragraph_count", "quantity", "Number of paragraphs.", {
        "approx": ["two short", "three", "a single compact", "four brief", "two or three"],
    }, (
        "Organise your answer into {approx} paragraphs.",
        "Write {approx} paragraphs.",
        "Structure the reply as {approx} paragraphs.",
    )),
    _soft("document_count", "quantity", "Number of separate documents or items.", {
        "docs": ["two separate emails", "three short tweets", "a memo and a follow-up note", "two versions of a cover letter",
                 "three alternative slogans", "a question and its answer as two documents"],
    }, (
        "Produce {docs}.",
        "Deliver the content as {docs}.",
        "Your output should consist of {docs}.",
    )),
    _soft("tone_and_emotion", "style", "Tone and emotion.", {
        "tone": ["warm and encouraging", "dry and ironic", "urgent", "calm and reassuring", "enthusiastic", "melancholic",
                 "formal and respectful", "playful", "empathetic", "confident but humble"],
    }, (
        "Use a {tone} tone.",
        "The reply should sound {tone}.",
        "Keep the emotional tone {tone} throughout.",
    )),
    _soft("form_and_style", "style", "Literary form or register.", {
        "form": ["a short poem", "a limerick", "a dialogue between two people", "a diary entry", "a news report",
                 "a fable with a moral", "a haiku sequence", "a FAQ", "a persuasive speech", "a bedtime story"],
    }, (
        "Write it in the form of {form}.",
        "Present your answer as {form}.",
        "Shape the response as {form}.",
    )),
    _soft("audience_specific", "style", "Target audience.", {
        "audience": ["a 10-year-old child", "a busy executive", "a first-year university student", "someone who has never used a computer",
                     "a senior software engineer", "elderly readers", "non-native English speakers", "a group of nurses",
                     "high-school teachers", "potential investors"],
    }, (
        "Write for {audience}.",
        "Tailor the answer so that {audience} can follow it easily.",
        "Your audience is {audience}; adjust vocabulary and detail to them.",
    )),
    _soft("authorial_style", "style", "Imitate an author's style.", {
        "author": ["Ernest Hemingway", "Jane Austen", "Mark Twain", "Edgar Allan Poe", "Dr. Seuss", "Agatha Christie",
                   "William Shakespeare", "Terry Pratchett", "Virginia Woolf", "Carl Sagan"],
    }, (
        "Write in the style of {author}.",
        "Imitate the voice of {author}.",
        "Make it read as if {author} had written it.",
    )),
    _soft("fundamental_format", "format", "Basic machine-readable formats.", {
        "fmt": ["an HTML fragment", "a Markdown table", "YAML", "CSV with a header row", "an XML document", "a JSON object"],
    }, (
        "Format the output as {fmt}.",
        "Return the answer as {fmt}.",
        "The response must be {fmt}.",
    )),
    _soft("bespoke_format", "format", "User-defined layout.", {
        "layout": ["each line starting with '>> '", "a numbered list where every item ends with a question",
                   "a header line, then 'Pros:' and 'Cons:' sections", "a two-column 'Term | Meaning' layout",
                   "every paragraph preceded by an emoji", "a TL;DR line first, then details"],
    }, (
        "Lay the answer out as {layout}.",
        "Use this layout: {layout}.",
        "Follow a custom format: {layout}.",
    )),
    _soft("specialized_format", "format", "Domain-specific document formats.", {
        "doc": ["a medical record (SOAP note)", "a legal contract clause", "a scientific abstract", "a recipe card",
                "a bug report with steps to reproduce", "a meeting minutes template", "a press release", "a lesson plan"],
    }, (
        "Write it as {doc}.",
        "Use the conventions of {doc}.",
        "Format the response like {doc}.",
    )),
    _soft("pragmatic", "linguistic", "Dialect, register and language policy.", {
        "policy": ["British English spelling", "American English spelling", "plain language with no jargon",
                   "Australian slang", "a formal academic register", "gender-neutral language throughout",
                   "Simplified English (short words, short sentences)", "Scottish English expressions"],
    }, (
        "Use {policy}.",
        "Stick to {policy} in your reply.",
        "Your answer must follow {policy}.",
    )),
    _soft("syntactic", "linguistic", "Phrase and clause structures.", {
        "structure": ["only simple sentences (no subordinate clauses)", "every sentence in the passive voice",
                      "questions only", "sentences that each begin with a verb", "parallel structure in every list",
                      "at least one conditional ('if ... then') sentence per paragraph"],
    }, (
        "Write using {structure}.",
        "Your sentences must follow this structure: {structure}.",
        "Keep to {structure}.",
    )),
    _soft("morphological", "linguistic", "Affixes, casing and word forms.", {
        "rule": ["no words ending in '-ly'", "every noun in plural form where possible", "verbs only in the past tense",
                 "at least five words with the prefix 're-'", "no contractions (write 'do not', not 'don't')",
                 "comparative adjectives in every sentence"],
    }, (
        "Use {rule}.",
        "Respect this word-form rule: {rule}.",
        "Write with {rule}.",
    )),
    _soft("phonological", "linguistic", "Sounds, rhyme and rhythm.", {
        "sound": ["rhyming couplets", "alliteration in every sentence", "an iambic rhythm", "words that start with the 's' sound",
                  "internal rhymes", "onomatopoeia at least three times"],
    }, (
        "Write using {sound}.",
        "Make the text sound good aloud with {sound}.",
        "Your answer should feature {sound}.",
    )),
    _soft("role_based", "role", "Answer in a role or persona.", {
        "role": ["a ship's captain", "a patient kindergarten teacher", "a grumpy librarian", "a sports commentator",
                 "a medieval herald", "a tech-support agent", "a museum tour guide", "a detective in 1920s Chicago",
                 "a friendly robot", "a nutritionist"],
    }, (
        "Answer as if you were {role}.",
        "Take on the role of {role} for your reply.",
        "Respond in character as {role}.",
    )),
    _soft("task_specific", "task", "Task-specific requirements.", {
        "task": ["end with three actionable next steps", "give a one-line summary first", "compare at least two options",
                 "include a worked example", "state your assumptions explicitly", "finish with a short quiz question",
                 "cite the kind of source a reader could check"],
    }, (
        "In addition: {task}.",
        "Make sure to {task}.",
        "Your reply should {task}.",
    )),
    _soft("complex_context", "context", "Reason within a given context.", {
        "context": ["the reader is on a tight budget of 50 euros", "the setting is a small island with no internet",
                    "the user is recovering from a knee injury", "the team works across three time zones",
                    "the event happens during a heatwave", "the audience already tried the obvious solution and it failed"],
    }, (
        "Take into account that {context}.",
        "Keep this context in mind: {context}.",
        "Assume {context}, and let that shape your answer.",
    )),
    _soft("example", "example", "Follow a given example pattern.", {
        "example": ["'Q: What is rain? A: Water falling from clouds.'", "'Word - definition - example sentence'",
                    "'Problem: ... / Fix: ...'", "'[Emoji] Tip: ...'", "'Step N — action (time needed)'"],
    }, (
        "Follow the pattern of this example: {example}.",
        "Mimic the structure shown here: {example}.",
        "Use the same format as the example {example}.",
    )),
    _soft("inverse", "exclusion", "Things to avoid.", {
        "avoid": ["any mention of price", "technical jargon", "exclamation-heavy hype", "the word 'very'",
                  "examples from sports", "rhetorical questions", "bullet points", "references to yourself as an AI"],
    }, (
        "Avoid {avoid}.",
        "Do not include {avoid}.",
        "Your response must steer clear of {avoid}.",
    )),
    _soft("contradictory", "combination", "Hard-to-combine requirements.", {
        "pair": ["be extremely brief yet cover every detail", "sound formal while using playful humour",
                 "be persuasive but strictly neutral", "use simple words while sounding academic",
                 "be both a poem and a step-by-step guide", "stay upbeat while delivering bad news"],
    }, (
        "Manage to {pair}.",
        "Your answer should {pair}.",
        "Find a way to {pair}.",
    )),
    _soft("rule", "logic", "Symbolic or logical rules.", {
        "rule": ["every sentence must be shorter than the one before it", "alternate between a statement and a question",
                 "the first letters of the lines spell a word", "each list item must be in alphabetical order",
                 "if you mention a cost, also mention a benefit", "number every claim and refer back to claims by number"],
    }, (
        "Obey this rule: {rule}.",
        "Follow the constraint that {rule}.",
        "Write so that {rule}.",
    )),
)
