"""The one resumable generator: label and eval both answer their prompts through :func:`generate_resumable`.

Generation is the slow part of both stages, so every finished response is appended to an
append-only partial JSONL at once (flushed, fsynced; a torn last line is dropped on reopen). A
rerun skips the keys already there and generates only the rest: a killed run loses at most the
batch in flight.

Responses from two different policies (or decodings) must never end up in one file. A
*fingerprint* -- model name, a hash of a local checkpoint's files, decoding settings, precision,
backend, plus whatever the stage adds (label: the curriculum's digest) -- is written next to the
partial file, and a rerun whose fingerprint differs is refused with the differing fields named,
unless it restarts. The fingerprint is written only once the model has loaded and right before
the first response is appended, so a failed model load leaves nothing that a rerun with a
corrected model could mix with; a partial file with responses but no fingerprint is refused too.
Batch size is not part of it (it does not change what a response means); under greedy decoding
neither are ``top_p`` and ``seed``.

Stages write their final file atomically (``write_jsonl`` / the scoring outputs) once every key is
answered.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from selfif.io import InputError, JsonlAppender, atomic_write_json, iter_jsonl_lines, read_json
from selfif.layout import RESPONSES_PARTIAL

log = logging.getLogger(__name__)

PARTIAL = RESPONSES_PARTIAL  # the name lives in selfif.layout
FORMAT = 2  # fingerprint layout; files without it are the two pre-unification formats


class ResponseRow(BaseModel):
    """A ``{"prompt", "response"}`` row (extra fields such as ``key`` are allowed and ignored)."""

    model_config = ConfigDict(extra="ignore")

    prompt: str
    response: str


@dataclass(frozen=True)
class Job:
    """One prompt to answer; ``fields`` are written with its row, before prompt and response."""

    key: Hashable
    prompt: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """What one call did; ``responses`` maps every answered key to its response."""

    responses: dict[Hashable, str]
    total: int
    reused: int
    generated: int
    precision: str
    backend: str

    @property
    def complete(self) -> bool:
        return len(self.responses) == self.total


def checkpoint_fingerprint(model: str) -> str | None:
    """For a local checkpoint directory: a hash of its weight/config files' names, sizes and mtimes,
    so a policy retrained into the same path does not reuse the old policy's answers."""
    p = Path(model).expanduser()
    if not p.is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(p.iterdir()):
        if f.is_file() and (f.suffix in (".safetensors", ".bin") or f.name == "config.json"):
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def fingerprint(model: str, params, precision: str, backend: str, **extra: Any) -> dict[str, Any]:
    """What must match for earlier partial responses to be reused (``params``: SamplingParams)."""
    return {
        "format": FORMAT,
        "model": model,
        "checkpoint": checkpoint_fingerprint(model),
        "max_new_tokens": params.max_new_tokens,
        "temperature": params.temperature,
        "top_p": None if params.greedy else params.top_p,
        "seed": None if params.greedy else params.seed,
        "precision": precision,
        "backend": backend,
        **extra,
    }


def _legacy(old: dict[str, Any]) -> dict[str, Any]:
    """A pre-unification fingerprint in today's layout. Those runs were fp32 ``transformers``
    generations; fields they did not record (label: the checkpoint hash) are taken as matching."""
    old = dict(old)
    gen = old.pop("generation", None)
    if isinstance(gen, dict):  # label.meta.json: {"curriculum", "model", "generation": {...}}
        old.update({k: gen.get(k) for k in ("max_new_tokens", "temperature", "top_p", "seed")})
    if isinstance(old.get("temperature"), (int, float)) and old["temperature"] <= 0:
        old.update(top_p=None, seed=None)
    old.setdefault("precision", "fp32")
    old.setdefault("backend", "transformers")
    old["format"] = FORMAT
    return old


def _refuse_mismatch(partial: Path, meta: Path, ident: dict[str, Any], restart_hint: str) -> None:
    if not meta.exists():
        raise InputError(partial, None, f"holds responses but {meta.name} (what made them) is missing; {restart_hint}")
    try:
        old = read_json(meta)
    except InputError as e:  # located (line, not UTF-8, bad JSON); add how to start over
        raise InputError(meta, e.line, f"{e.message}; {restart_hint}") from None
    if not isinstance(old, dict):
        raise InputError(meta, None, f"expected a JSON object (the generation settings), got {type(old).__name__}; {restart_hint}")
    if old.get("format") != FORMAT:
        old = _legacy(old)
        ident = {k: v for k, v in ident.items() if k in old}
    diff = {k: (old.get(k), v) for k, v in ident.items() if old.get(k) != v}
    if diff:
        raise InputError(
            partial, None,
            "holds responses generated with different settings "
            + ", ".join(f"{k}: {a!r} (then) vs {b!r} (now)" for k, (a, b) in sorted(diff.items()))
            + f"; {restart_hint}",
        )


def _done_rows(partial: Path, wanted: Mapping[Hashable, Job], key_of: Callable[[dict], Hashable]) -> dict[Hashable, str]:
    """Responses already in the partial file for wanted keys; a wanted key whose prompt differs
    is an error (the inputs changed under the same key), rows for keys not wanted are ignored."""
    done: dict[Hashable, str] = {}
    first: dict[Hashable, int] = {}
    for lineno, rec in iter_jsonl_lines(partial):
        try:
            row = ResponseRow.model_validate(rec)
            key = key_of(rec)
        except (ValueError, KeyError, TypeError) as e:
            raise InputError(partial, lineno, f"not a response row: {e}") from None
        job = wanted.get(key)
        if job is None:
            continue
        if job.prompt != row.prompt:
            raise InputError(partial, lineno, f"row {key!r} answers another prompt than the input now has")
        if key in done:  # we never write a key twice: the file was edited or mixed from two runs
            raise InputError(partial, lineno, f"row {key!r} is already answered at line {first[key]}; "
                                              "which answer counts is not defined")
        done[key], first[key] = row.response, lineno
    return done


def _located(batches, todo: Sequence[Job]):
    """``batches``, with a too-long prompt named by its row (``key``, or seed and level) instead of
    its position in this call's to-do list."""
    from selfif.generation.batches import PromptTooLong

    try:
        yield from batches
    except PromptTooLong as e:
        job = todo[e.index]
        row = ", ".join(f"{k} {v}" for k, v in job.fields.items()) or f"key {job.key!r}"
        raise PromptTooLong(e.index, e.tokens, e.context, e.max_new_tokens, row) from None


def generate_resumable(
    jobs: Sequence[Job],
    out_dir: str | os.PathLike,
    *,
    identity: dict[str, Any],
    key_of: Callable[[dict], Hashable],
    load_generator: Callable[[], Any],
    params,
    meta_name: str,
    restart: bool = False,
    restart_hint: str = "pass --restart to start over",
    max_batches: int | None = None,
    progress: bool = True,
    desc: str = "generate",
) -> Outcome:
    """Answer ``jobs`` into ``out_dir/responses.partial.jsonl``, resuming from it.

    ``identity`` comes from :func:`fingerprint`; ``key_of`` maps a partial row back to its job key;
    ``load_generator`` is called only when something is left to generate; ``max_batches`` stops
    after that many batches of this call (an interruption on purpose, for smoke runs and tests).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    partial, meta = out / PARTIAL, out / meta_name
    if restart:
        partial.unlink(missing_ok=True)
    wanted = {j.key: j for j in jobs}
    if len(wanted) != len(jobs):
        raise ValueError("duplicate job keys")
    done: dict[Hashable, str] = {}
    if partial.exists():
        JsonlAppender(partial).close()  # drops a torn last line
        if partial.stat().st_size:
            _refuse_mismatch(partial, meta, identity, restart_hint)
            done = _done_rows(partial, wanted, key_of)
    reused = len(done)
    todo = [j for j in jobs if j.key not in done]
    log.info("%s: %d prompts, %d already answered in %s, %d to generate", desc, len(jobs), reused, partial, len(todo))
    generated = 0
    if todo:
        gen = load_generator()  # may fail: nothing has been written yet
        if not partial.exists() or partial.stat().st_size == 0:
            atomic_write_json(meta, identity)
        # A resumed sampling call uses another stream than the first (batch seeds restart at 0).
        if reused and not params.greedy:
            params = dataclasses.replace(params, seed=params.seed + 7919 * reused)
        with JsonlAppender(partial) as app:
            batches = gen.iter_generate([j.prompt for j in todo], params, progress=progress, desc=desc)
            try:
                for b, (idx, texts) in enumerate(_located(batches, todo)):
                    for i, text in zip(idx, texts):
                        job = todo[i]
                        app.write({**job.fields, "prompt": job.prompt, "response": text})
                        done[job.key] = text
                        generated += 1
                    if max_batches is not None and b + 1 >= max_batches:
                        break
            finally:
                batches.close()
    return Outcome(done, len(jobs), reused, generated, identity["precision"], identity["backend"])
