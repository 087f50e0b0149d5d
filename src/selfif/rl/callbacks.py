"""Trainer callbacks of the RL stage.

:class:`CurriculumStateCallback` writes the curriculum schedule's state into every checkpoint
directory (``curriculum_state.json``), after the HF Trainer has written model, optimizer,
scheduler and RNG state there. The file is written last and atomically, so its presence also
marks a checkpoint as complete: resume skips checkpoint directories without it (a run killed
in the middle of saving).
"""

from __future__ import annotations

from pathlib import Path

from transformers import TrainerCallback

from selfif.io import atomic_write_json
from selfif.rl.sampler import STATE_FILE

__all__ = ["STATE_FILE", "CurriculumStateCallback"]


class CurriculumStateCallback(TrainerCallback):
    def __init__(self, sampler):
        self.sampler = sampler

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            payload = self.sampler.checkpoint_state()
            payload["global_step"] = state.global_step
            atomic_write_json(ckpt / STATE_FILE, payload)
        return control
