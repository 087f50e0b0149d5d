"""The concrete stages of ``selfif run``: each calls the same Python API as its CLI verb.

Run directory layout (all relative to ``run_dir``)::

    seeds.jsonl, seeds.stats.json           selfif seeds
    curriculum.jsonl, curriculum.stats.json selfif synth
    label/{responses,pairs}.jsonl, audit.json   selfif label --audit
    rm/                                     selfif train-rm
    eval-before/                            selfif eval ifeval (the starting policy)
    policy/{checkpoint-*,final,plots}       selfif train
    eval-after/                             selfif eval ifeval (policy/final)
    report.md                               this pipeline
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selfif.config import PipelineConfig
from selfif.pipeline import Stage

LABEL_DIR, RM_DIR, POLICY_DIR = "label", "rm", "policy"
EVAL_BEFORE, EVAL_AFTER = "eval-before", "eval-after"


def _seeds(cfg: PipelineConfig, run: Path) -> dict[str, Any]:
    from selfif.data.seeds import build_seeds, format_stats, write_seeds

    seeds_cfg = cfg.seeds
    if cfg.eval.benchmark not in seeds_cfg.decontaminate and Path(cfg.eval.benchmark).exists():
        # Never train on what we evaluate on: the evaluation benchmark is always a decontamination source.
        seeds_cfg = seeds_cfg.model_copy(update={"decontaminate": [*seeds_cfg.decontaminate, cfg.eval.benchmark]})
    seeds, stats = build_seeds(seeds_cfg)
    write_seeds(seeds, stats, run / "seeds.jsonl")
    print(format_stats(stats))
    return {"n_seeds": len(seeds), "dropped": stats.get("dropped")}


def _synth(cfg: PipelineConfig, run: Path) -> dict[str, Any]:
    from selfif.data.synth import format_stats, synthesize

    stats = synthesize(run / "seeds.jsonl", run / "curriculum.jsonl", cfg.synth)
    print(format_stats(stats))
    return {"levels": stats["levels"], "kinds": stats["kinds"]}


def _label(cfg: PipelineConfig, run: Path) -> dict[str, Any]:
    from selfif.labeling.cli import run_label

    return run_label(
        run / "curriculum.jsonl", run / LABEL_DIR, cfg.label.model or cfg.model, cfg.label.generation,
        cfg.label.hard_labels, do_audit=True, audit_only=False,
    )


def _train_rm(cfg: PipelineConfig, run: Path) -> dict[str, Any]:
    from selfif.reward.train import format_report, train_rm

    metrics = train_rm(run / LABEL_DIR / "pairs.jsonl", run / RM_DIR, cfg.rm,
                       audit_path=run / LABEL_DIR / "audit.json", overwrite=True)
    print(format_report(metrics))
    return {"val": {k: v for k, v in metrics["val"].items() if not isinstance(v, (dict, list))}}


def _eval(which: str):
    def run_eval(cfg: PipelineConfig, run: Path) -> dict[str, Any]:
        from selfif.eval.ifeval import evaluate_ifeval

        model = cfg.model if which == EVAL_BEFORE else str(run / POLICY_DIR / "final")
        scores = evaluate_ifeval(model, cfg.eval.benchmark, run / which, cfg.eval.limit, cfg.eval.generation)
        return {k: scores[k] for k in ("prompt_level_strict", "prompt_level_loose", "instruction_level_strict", "instruction_level_loose")}

    return run_eval


def _train(cfg: PipelineConfig, run: Path) -> dict[str, Any]:
    from selfif.rl.trainer import train_policy

    summary = train_policy(cfg, run / "curriculum.jsonl", run / POLICY_DIR, rm_dir=run / RM_DIR, reward_cfg=cfg.reward)
    return {k: summary.get(k) for k in ("global_step", "reward_first", "reward_final", "reward_mean", "time_per_step_s")}


def _report(cfg: PipelineConfig, run: Path) -> dict[str, Any]:
    from selfif.report import write_report

    path = write_report(cfg, run)
    return {"report": str(path)}


def pipeline_stages() -> list[Stage]:
    """The stages in data-flow order, with the config sections each depends on."""
    return [
        Stage("seeds", ("seeds",), (), ("seeds.jsonl",), _seeds),
        Stage("synth", ("synth",), ("seeds",), ("curriculum.jsonl",), _synth),
        Stage("label", ("model", "label"), ("synth",), (f"{LABEL_DIR}/pairs.jsonl", f"{LABEL_DIR}/audit.json"), _label,
              clean=(LABEL_DIR,)),
        Stage("train-rm", ("rm",), ("label",), (f"{RM_DIR}/selfif_rm.json",), _train_rm, clean=(RM_DIR,)),
        Stage("eval-before", ("model", "eval"), (), (f"{EVAL_BEFORE}/scores.json",), _eval(EVAL_BEFORE), clean=(EVAL_BEFORE,)),
        Stage("train", ("model", "train", "reward"), ("synth", "train-rm"), (f"{POLICY_DIR}/final/config.json",), _train,
              clean=(POLICY_DIR,)),
        Stage("eval-after", ("eval",), ("train",), (f"{EVAL_AFTER}/scores.json",), _eval(EVAL_AFTER), clean=(EVAL_AFTER,)),
        Stage("report", (), ("eval-before", "eval-after", "label", "train-rm", "train"), ("report.md",), _report,
              always=True),
    ]
