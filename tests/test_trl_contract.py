"""The TRL methods :class:`CurriculumGRPOTrainer` overrides still exist, with the parameters we override.

We subclass TRL's ``GRPOTrainer`` and override mostly private methods, which TRL may change in any
release. A change there would not fail at import: the override would silently stop being called
(method renamed) or be called with arguments it does not expect. These checks fail first, naming the
method, without building a trainer. On a new TRL release: read the changed method, adapt
``selfif.rl.grpo_trainer``, update ``EXPECTED`` here, and widen the pin in ``pyproject.toml``.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
import tomllib

import pytest

from conftest import REPO

trl = pytest.importorskip("trl")
from packaging.requirements import Requirement  # noqa: E402 - after the skip
from trl import GRPOTrainer  # noqa: E402

from selfif.rl import grpo_trainer  # noqa: E402
from selfif.rl.grpo_trainer import CurriculumGRPOTrainer  # noqa: E402

# TRL 1.16.0: each overridden method's parameters (names, order, kinds, defaults; annotations are
# left out because only these decide how TRL calls the override and how it calls TRL back).
EXPECTED = {
    "__init__": "(self, model, reward_funcs=None, args=None, train_dataset=None, eval_dataset=None, processing_class=None, "
                "reward_processing_classes=None, callbacks=None, optimizers=(None, None), quantization_config=None, "
                "peft_config=None, tools=None, rollout_func=None, environment_factory=None)",
    "_get_train_sampler": "(self, dataset=None)",
    "_calculate_rewards": "(self, inputs, prompts, completions, completion_ids_list)",
    "_generate": "(self, prompts)",
    "_generate_and_score_completions": "(self, inputs)",
    "_generate_single_turn": "(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False)",
    "_get_per_token_logps_and_entropies": "(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None, "
                                          "compute_entropy=False, compute_aux_loss=False, pixel_values=None, "
                                          "image_grid_thw=None, num_images=None, pixel_attention_mask=None, "
                                          "spatial_shapes=None, num_tiles=None, image_sizes=None, token_type_ids=None, "
                                          "mm_token_type_ids=None, image_position_ids=None)",
}

# What our _guide unpacks from TRL's _generate (and _generate reads completions from index 3).
GENERATE_RETURNS = ["prompt_ids", "completion_ids", "tool_mask", "completions", "logprobs", "extra_fields", "images", "tool_images"]

# Attributes TRL's __init__ sets that the subclass reads (listed in selfif.rl.grpo_trainer's docstring).
TRL_ATTRIBUTES = ["eos_token_ids", "_tokenizer", "generation_config", "generation_kwargs", "max_completion_length",
                  "num_generations", "temperature", "reward_weights", "use_vllm", "_metrics", "_entropy_bonus_enabled"]


def _bare(fn) -> str:
    sig = inspect.signature(fn)
    params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
    return str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))


def _overridden() -> set[str]:
    return {name for name, value in vars(CurriculumGRPOTrainer).items()
            if inspect.isfunction(value) and hasattr(GRPOTrainer, name)}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_overridden_trl_method_keeps_its_signature(name):
    method = getattr(GRPOTrainer, name, None)
    assert method is not None, f"TRL {trl.__version__}: GRPOTrainer.{name} is gone; CurriculumGRPOTrainer overrides it"
    found = _bare(method)
    assert found == EXPECTED[name], (
        f"TRL {trl.__version__}: GRPOTrainer.{name} changed its signature; CurriculumGRPOTrainer overrides it.\n"
        f"  expected {EXPECTED[name]}\n  found    {found}")


def test_every_override_is_recorded_documented_and_in_the_pin_comment():
    overridden = _overridden()
    assert overridden == set(EXPECTED), (
        f"CurriculumGRPOTrainer overrides {sorted(overridden - set(EXPECTED))} without a recorded TRL signature here; "
        f"recorded but no longer overridden: {sorted(set(EXPECTED) - overridden)}")
    doc = grpo_trainer.__doc__
    pin_comment = REPO.joinpath("pyproject.toml").read_text().split('"trl>=')[0].rsplit("[", 1)[-1]
    for name in sorted(overridden):
        assert f"``{name}``" in doc, f"selfif.rl.grpo_trainer's docstring does not list the override of {name}"
        assert name in pin_comment, f"pyproject.toml's comment above the trl pin does not list the override of {name}"


def test_installed_trl_is_the_tested_version_and_inside_the_pin():
    deps = tomllib.loads(REPO.joinpath("pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [Requirement(d) for d in deps if Requirement(d).name == "trl"]
    assert pin.specifier.contains(trl.__version__), f"installed trl {trl.__version__} is outside the pin {pin}"
    assert f"TRL {trl.__version__}" in grpo_trainer.__doc__, (
        f"trl {trl.__version__} is installed but selfif.rl.grpo_trainer says it was checked against another version")


def test_generate_still_returns_the_tuple_guidance_unpacks():
    tree = ast.parse(textwrap.dedent(inspect.getsource(GRPOTrainer._generate)))
    returns = [n for n in ast.walk(tree) if isinstance(n, ast.Return) and n.value is not None]
    assert returns, "GRPOTrainer._generate returns nothing"
    last = returns[-1].value
    found = [e.id if isinstance(e, ast.Name) else ast.unparse(e) for e in last.elts] if isinstance(last, ast.Tuple) else [ast.unparse(last)]
    assert found == GENERATE_RETURNS, f"GRPOTrainer._generate now returns {found}; CurriculumGRPOTrainer._guide unpacks {GENERATE_RETURNS}"


def test_the_trl_attributes_the_subclass_reads_are_still_set_by_trl():
    tree = ast.parse(textwrap.dedent(inspect.getsource(GRPOTrainer)))
    assigned = {t.attr for n in ast.walk(tree) if isinstance(n, (ast.Assign, ast.AnnAssign))
                for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"}
    missing = [a for a in TRL_ATTRIBUTES if a not in assigned]
    assert not missing, f"TRL {trl.__version__}'s GRPOTrainer no longer sets {missing}, which CurriculumGRPOTrainer reads"
    for a in TRL_ATTRIBUTES:
        assert re.search(rf"``{re.escape(a)}``", grpo_trainer.__doc__), f"selfif.rl.grpo_trainer's docstring does not list {a}"


def test_the_truncation_rule_needs_the_completion_limits():
    from selfif.reward import InstructionReward
    from selfif.rl.reward import CompletionLimits, trl_reward_with_levels

    with pytest.raises(ValueError, match="completion limits"):
        trl_reward_with_levels(InstructionReward(), truncated_fails_end_constraints=True)
    limits = CompletionLimits(max_tokens=4, end_ids=(2, 0))
    assert limits.truncated([5, 6, 7]) and not limits.truncated([5, 2]) and not limits.truncated([5, 0])
