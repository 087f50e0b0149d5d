"""Builds ``tests/data/reward_pairs.jsonl``: real pseudo-label pairs for the reward-model tests.

Run once (``python tests/reward_fixture_builder.py``); the tests read the committed file. It
does what the labelling stage does, at toy scale: the real default policy (SmolLM2-135M,
greedy) answers each seed prompt bare (L0) and with one constraint appended (L1); the L1
response is the positive and the L0 response the negative for that constraint (contrastive
pseudo-label), and for hard constraints the verifier's verdict on each response is recorded
as ``verifier_label``. Responses are cached in ``reward_responses.jsonl`` so relabelling
(e.g. after a verifier change) does not regenerate.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from conftest import DATA  # noqa: E402 - the one definition of the test-data folder

RESPONSES = DATA / "reward_responses.jsonl"
PAIRS = DATA / "reward_pairs.jsonl"

SEEDS = [
    "Write a short note to a friend about your weekend.",
    "Describe how to make a cup of tea.",
    "Explain why the sky is blue.",
    "Give advice to someone starting to learn the guitar.",
    "Describe your favourite season.",
    "Write a product description for a reusable water bottle.",
    "Explain what a computer virus is.",
    "Tell me about the benefits of walking every day.",
    "Write a short story about a lost cat.",
    "Describe a busy city street in the morning.",
    "Explain how plants make food.",
    "Write a thank-you message to a teacher.",
    "Suggest a plan for a rainy Sunday.",
    "Describe the taste of a lemon.",
    "Explain how a bicycle works.",
    "Write an invitation to a birthday party.",
    "Give tips for sleeping better.",
    "Describe a walk on the beach.",
    "Explain what recycling is and why it matters.",
    "Write a review of a restaurant you like.",
    "Describe the job of a firefighter.",
    "Explain how to save money on groceries.",
    "Write a poem about the moon.",
    "Describe what you would pack for a camping trip.",
]

# (id, kind, kwargs, text): hard ids are IFEval's, with IFEval's kwarg names.
CONSTRAINTS = [
    ("change_case:english_lowercase", "hard", {}, "Your entire response should be in English, and in all lowercase letters. No capital letters are allowed."),
    ("punctuation:no_comma", "hard", {}, "In your entire response, refrain from the use of any commas."),
    ("change_case:english_capital", "hard", {}, "Your entire response should be in English, and in all capital letters."),
    ("detectable_format:title", "hard", {}, "Your answer must contain a title, wrapped in double angular brackets, such as <<poem of joy>>."),
    ("startend:end_checker", "hard", {"end_phrase": "Is there anything else I can help with?"}, "Finish your response with this exact phrase: Is there anything else I can help with?"),
    ("detectable_content:postscript", "hard", {"postscript_marker": "P.S."}, "At the end of your response, please explicitly add a postscript starting with P.S."),
    ("keywords:existence", "hard", {"keywords": ["banana"]}, "Include the keyword banana in the response."),
    ("length_constraints:number_words", "hard", {"relation": "less than", "num_words": 20}, "Answer with less than 20 words."),
    ("startend:quotation", "hard", {}, "Wrap your entire response with double quotation marks."),
    ("soft:tone_and_emotion", "soft", {}, "Write in a cheerful, enthusiastic tone."),
    ("soft:audience_specific", "soft", {}, "Write it so that a five-year-old child can understand it."),
    ("soft:role_based", "soft", {}, "Answer as if you were a pirate captain."),
]


def constraint_for(i: int) -> dict:
    cid, kind, kwargs, text = CONSTRAINTS[i % len(CONSTRAINTS)]
    return {"id": cid, "kind": kind, "kwargs": kwargs, "text": text}


def generate_responses() -> list[dict]:
    from selfif.generation import SamplingParams, make_generator
    from selfif.io import read_jsonl, write_jsonl

    if RESPONSES.exists():
        return read_jsonl(RESPONSES)
    prompts, rows = [], []
    for i, seed in enumerate(SEEDS):
        c = constraint_for(i)
        for level, prompt in ((0, seed), (1, f"{seed} {c['text']}")):
            prompts.append(prompt)
            rows.append({"seed_id": f"seed-{i:03d}", "level": level, "prompt": prompt})
    gen = make_generator("smollm2-135m", backend="transformers")
    outs = gen.generate(prompts, SamplingParams(max_new_tokens=64, temperature=0.0, batch_size=16))
    for r, o in zip(rows, outs):
        r["response"] = o
    write_jsonl(RESPONSES, rows)
    return rows


def build() -> Path:
    from selfif.constraints import registry
    from selfif.io import write_jsonl

    rows = generate_responses()
    by = {(r["seed_id"], r["level"]): r for r in rows}
    pairs = []
    for i in range(len(SEEDS)):
        sid = f"seed-{i:03d}"
        c = constraint_for(i)
        for level, label in ((1, 1), (0, 0)):
            r = by[(sid, level)]
            v = None
            if c["kind"] == "hard":
                v = int(registry.verify(c["id"], r["response"], c["kwargs"], prompt=r["prompt"]))
            pairs.append({
                "pair_id": f"{sid}-c1-{'pos' if label else 'neg'}", "seed_id": sid, "k": 1, "constraint": c,
                "response": r["response"], "instruction": r["prompt"], "label": label,
                "source": "contrast", "verifier_label": v,
            })  # fmt: skip
    write_jsonl(PAIRS, pairs)
    return PAIRS


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    print(build())
