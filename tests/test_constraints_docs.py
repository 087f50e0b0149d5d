"""docs/constraints.md's worked example (a new hard type with verifier, sampler, templates and
repair) runs as written and then works through the registry like any built-in type."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from selfif.constraints import registry

DOC = Path(__file__).resolve().parents[1] / "docs" / "constraints.md"


@pytest.fixture
def example_type():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, "docs/constraints.md should hold exactly one python example"
    try:
        exec(compile(blocks[0], str(DOC), "exec"), {"__name__": "docs_constraints_example"})
        yield registry.get("format:exact_lines")
    finally:
        registry._REGISTRY.pop("format:exact_lines", None)  # leave the registry as the suite knows it


def test_documented_example_registers_a_working_type(example_type):
    assert example_type.kind == "hard" and example_type.category == "format"
    assert registry.repairable("format:exact_lines")
    inst = example_type.instance(random.Random(0))
    assert 2 <= inst.kwargs["num_lines"] <= 6 and str(inst.kwargs["num_lines"]) in inst.text

    text = "Rivers flow east. They carve valleys. Fish live in them. Boats travel on them."
    assert not registry.verify("format:exact_lines", text, {"num_lines": 2})
    fixed = registry.repair("format:exact_lines", text, {"num_lines": 2})
    assert fixed == "Rivers flow east. They carve valleys.\nFish live in them. Boats travel on them."
    assert registry.verify("format:exact_lines", fixed, {"num_lines": 2})
    assert registry.repair("format:exact_lines", "One sentence only.", {"num_lines": 3}) is None
    chain = [{"id": "format:exact_lines", "kwargs": {"num_lines": 2}}, {"id": "punctuation:no_comma", "kwargs": {}}]
    assert registry.repair_chain(chain, "Rivers flow east, fast. They carve valleys.", "Tell me about rivers.") == (
        "Rivers flow east fast.\nThey carve valleys."
    )

    with pytest.raises(registry.ConstraintError, match="must be >= 1"):
        registry.verify("format:exact_lines", text, {"num_lines": 0})
    with pytest.raises(registry.ConstraintError, match="must be an integer"):
        registry.verify("format:exact_lines", text, {"num_lines": "2"})
    with pytest.raises(registry.ConstraintError, match="missing required kwargs"):
        registry.verify("format:exact_lines", text, {})
