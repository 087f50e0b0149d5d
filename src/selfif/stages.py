"""The concrete stages of ``selfif run``: each calls the same Python API as its CLI verb.

The run-directory names live in :mod:`selfif.layout`. ``Stage`` is defined here, not in
:mod:`selfif.pipeline`, so that the runner imports the stages and never the other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfif.config import PipelineConfig
from selfif.layout import (
    AUDIT, CONTROL_AFTER, CONTROL_BEFORE, CONTROL_SEEDS, CURRICULUM, EVAL_AFTER, EVAL_BEFORE, FINAL_DIR, HELDOUT,
    HELDOUT_AFTER, HELDOUT_BEFORE, LABEL_DIR, PAIRS,
    POLICY_DIR, REPORT, RM_DIR, RM_META, SCORES, SEEDS,
)


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline and what the manifest needs to know to skip or resume it."""

    name: str
    sections: tuple[str, ...]  # config sections (or top-level keys) the stage's output depends on
    upstream: tuple[str, ...]
    outputs: tuple[str, ...]  # paths relative to run_dir that must exist after the stage
    run: Callable[[PipelineConfig, Path], dict[str, Any]]
    clean: tuple[str, ...] = ()  # resumable work dirs, removed when the stage's config changed
    always: bool = False  # cheap stages (the report) rerun every time


def _seeds(cfg: PipelineConfig, run: Path) -> dict[str, Any]:
    from selfif.data.seeds import build_seeds, format_stats, write_seeds

    # Never train on what we evaluate on: the evaluation benchmark is always a decontamination source.
    sources = list(cfg.seeds.decontaminate or [])
    if cfg.eval.benchmark not in sources:
        sources.append(cfg.eval.benchmark)
    seeds_cfg = cfg.seeds.model_copy(update={"decontaminate": sources})
    seeds, stats = build_seeds(seeds_cfg)
    write_seeds(seeds, stats, run / SEEDS)
    print(format_stats(stats))
    return {"n_seeds": len(seeds), "dropped": stats.get("dropped")}


def _synth(cfg: PipelineConfig, run: Path) -> dict[str, Any]:
    from selfif.data.synth import format_stats, synthesize

    stats = synthesize(run / SEEDS, run / CURRICULUM, cfg.synth)
    print(format_stats(stats))
    return {"levels": stats["levels"], "kinds": stats["kinds"]}


def _label(cfg: PipelineConfig, run: Path) -> dict[str, Any]:
    from selfif.labeling.stage import run_label

    return run_label(
        run / CURRICULUM, run / LABEL_DIR, cfg.label.model or cfg.model, cfg.label.generation,
        cfg.label.hard_labels, do_audit=True, audit_only=False, repair_positives=cfg.label.repair_positives,
    )


def _train_rm(cfg: PipelineConfig, run: Path) -> dict[str, Any]:
    from selfif.reward.train import format_report, train_rm

    metrics = train_rm(run / LABEL_DIR / PAIRS, run / RM_DIR, cfg.rm,
                       audit_path=run / LABEL_DIR / AUDIT, overwrite=True)
    print(format_report(metrics))
    return {"val": {k: v for k, v in metrics["val"].items() if not isinstance(v, (dict, list))}, "precision": metrics.get("precision")}


def _eval(which: str):
    def run_eval(cfg: PipelineConfig, run: Path) -> dict[str, Any]:
        from selfif.eval.ifeval import evaluate_ifeval

        model = cfg.model if which == EVAL_BEFORE else str(run / POLICY_DIR / FINAL_DIR)
        scores = evaluate_ifeval(model, cfg.eval.benchmark, run / which, cfg.eval.limit, cfg.eval.generation,
                                 instruction_types=cfg.eval.instruction_types,
                                 baseline=run / EVAL_BEFORE if which == EVAL_AFTER else None)  # deltas with intervals
        return {**{k: scores[k] for k in ("prompt_level_strict", "prompt_level_loose", "instruction_level_strict", "instruction_level_loose")},
                "precision": scores["meta"].get("precision"), "backend": scores["meta"]["generation"].get("backend")}

    return run_eval


def _heldout_eval(which: str):
    """The leave-types-out check (synth.heldout): the policy answers ``heldout.jsonl`` (prompts asking
    for hard types training never saw) with eval.generation's decoding, scored by the registry's
    verifiers; after training, paired against the before evaluation with bootstrap intervals."""
    def run_eval(cfg: PipelineConfig, run: Path) -> dict[str, Any]:
        from selfif.eval.ifeval import evaluate_ifeval

        model = cfg.model if which == HELDOUT_BEFORE else str(run / POLICY_DIR / FINAL_DIR)
        scores = evaluate_ifeval(model, run / HELDOUT, run / which, generation=cfg.eval.generation,
                                 baseline=run / HELDOUT_BEFORE if which == HELDOUT_AFTER else None)
        return {**{k: scores[k] for k in ("prompt_level_strict", "prompt_level_loose", "instruction_level_strict", "instruction_level_loose")},
                "n_prompts": scores["n_prompts"], "types": sorted(cfg.synth.heldout.types)}

    return run_eval


def _control_eval(which: str):
    """The constraint-free control set (synth.control): the policy answers ``control_seeds.jsonl``
    (seed prompts training never drew, no constraint) with eval.generation's decoding, measured by
    the answer-quality metrics; after training, paired against the before answers with bootstrap
    intervals."""
    def run_eval(cfg: PipelineConfig, run: Path) -> dict[str, Any]:
        from selfif.eval.control import evaluate_control

        model = cfg.model if which == CONTROL_BEFORE else str(run / POLICY_DIR / FINAL_DIR)
        scores = evaluate_control(model, run / CONTROL_SEEDS, run / which, cfg.eval.generation,
                                  baseline=run / CONTROL_BEFORE if which == CONTROL_AFTER else None)
        q = scores["quality"]
        return {"n_prompts": scores["n_prompts"], "words_median": q["words"]["median"],
                "looping": q["looping"]["looping"], "relevance": (q.get("relevance") or {}).get("mean")}

    return run_eval


def _train(cfg: PipelineConfig, run: Path) -> dict[str, Any]:
    from selfif.rl.trainer import train_policy

    summary = train_policy(cfg, run / CURRICULUM, run / POLICY_DIR, rm_dir=run / RM_DIR, reward_cfg=cfg.reward)
    return {k: summary.get(k) for k in ("global_step", "reward_first", "reward_final", "reward_mean", "time_per_step_s", "precision")}


def _report(cfg: PipelineConfig, run: Path) -> dict[str, Any]:
    from selfif.report import write_report

    path = write_report(cfg, run)
    return {"report": str(path)}


def pipeline_stages(cfg: PipelineConfig | None = None) -> list[Stage]:
    """The stages in data-flow order, with the config sections each depends on; with a
    leave-types-out split (``synth.heldout.types`` in ``cfg``) also its evaluations before and
    after training, and likewise with a control set (``synth.control.seeds`` in ``cfg``)."""
    heldout = bool(cfg is not None and cfg.synth.heldout.types)
    control = bool(cfg is not None and cfg.synth.control.seeds)
    before = [Stage("heldout-before", ("model", "eval"), ("synth",), (f"{HELDOUT_BEFORE}/{SCORES}",),
                    _heldout_eval(HELDOUT_BEFORE), clean=(HELDOUT_BEFORE,))] if heldout else []
    after = [Stage("heldout-after", ("eval",), ("train", "heldout-before"), (f"{HELDOUT_AFTER}/{SCORES}",),
                   _heldout_eval(HELDOUT_AFTER), clean=(HELDOUT_AFTER,))] if heldout else []
    if control:
        before.append(Stage("control-before", ("model", "eval"), ("synth",), (f"{CONTROL_BEFORE}/{SCORES}",),
                            _control_eval(CONTROL_BEFORE), clean=(CONTROL_BEFORE,)))
        after.append(Stage("control-after", ("eval",), ("train", "control-before"), (f"{CONTROL_AFTER}/{SCORES}",),
                           _control_eval(CONTROL_AFTER), clean=(CONTROL_AFTER,)))
    return [
        Stage("seeds", ("seeds",), (), (SEEDS,), _seeds),
        Stage("synth", ("synth",), ("seeds",), (CURRICULUM,), _synth),
        Stage("label", ("model", "label"), ("synth",), (f"{LABEL_DIR}/{PAIRS}", f"{LABEL_DIR}/{AUDIT}"), _label,
              clean=(LABEL_DIR,)),
        Stage("train-rm", ("rm",), ("label",), (f"{RM_DIR}/{RM_META}",), _train_rm, clean=(RM_DIR,)),
        Stage("eval-before", ("model", "eval"), (), (f"{EVAL_BEFORE}/{SCORES}",), _eval(EVAL_BEFORE), clean=(EVAL_BEFORE,)),
        *before,
        Stage("train", ("model", "train", "reward"), ("synth", "train-rm"), (f"{POLICY_DIR}/{FINAL_DIR}/config.json",), _train,
              clean=(POLICY_DIR,)),
        Stage("eval-after", ("eval",), ("train",), (f"{EVAL_AFTER}/{SCORES}",), _eval(EVAL_AFTER), clean=(EVAL_AFTER,)),
        *after,
        Stage("report", (), ("eval-before", "eval-after", "label", "train-rm", "train"), (REPORT,), _report,
              always=True),
    ]
