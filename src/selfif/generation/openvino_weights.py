"""Hand OpenVINO new weights without rebuilding the model from a file: GRPO rollouts on a CPU.

A GRPO step changes every weight, so a rollout engine needs the new ones each step. Through the
GGUF route of :mod:`selfif.generation.openvino` that costs writing the file and OpenVINO GenAI parsing it, building
its graph and tokenizer, and compiling: 5-7 s per step for SmolLM2-135M (``benchmarks/generation.py``),
more than the rollout it would speed up. Most of that is not compilation. So the graph is built once
per run, and each step only the weights change:

1. :meth:`WeightTemplate.build` writes the starting policy as a GGUF once and lets OpenVINO GenAI
   save the IR it builds from it (``openvino_model.xml`` + its weight blob, and the tokenizer IRs).
2. It finds, for every weight constant in that IR, the policy tensor it holds and how it is laid out:
   named constants by their name, the unnamed RMSNorm weights by their values (each must match
   exactly one tensor), query/key rows as written or in GGUF's rotary order. It then rebuilds the
   blob from the same policy and requires it to equal OpenVINO's byte for byte, so a layout it does
   not understand is an error at the start of a run, never wrong weights.
3. :meth:`WeightTemplate.blob` writes the policy's current weights (F16, as in the GGUF) into a
   copy of the blob; ``LLMPipeline(xml, weights, tokenizer, ...)`` compiles the same graph with
   them: about 1.6 s on one core of the 2-core EPYC (5.2 s from the GGUF), 3.1-3.8 s at bf16 on two
   cores of the AMX Xeon inside a GRPO step (6.5 s from the GGUF).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from selfif.generation.openvino import rope_rows, write_gguf

_CONST = re.compile(r'<layer id="(\d+)" name="([^"]+)" type="Const"[^>]*>\s*'
                    r'<data element_type="(\w+)" shape="([^"]*)" offset="(\d+)" size="(\d+)"')
_INDEX = re.compile(r"\[(\d+)\]")
MIN_WEIGHT_BYTES = 1024
"""Constants at least this large are weights (the rest are shapes, axes and scalars the graph needs)."""


@dataclass(frozen=True)
class Slot:
    """Where one policy tensor sits in the weight blob."""

    offset: int
    size: int
    name: str  # the policy's state-dict key
    rope_heads: int = 0  # > 0: rows in GGUF's rotary order (:func:`selfif.generation.openvino.rope_rows`) for this many heads


class LayoutError(RuntimeError):
    """The IR's weights could not be matched to the policy's tensors."""


def _f16_bytes(t, rope_heads: int = 0):
    import numpy as np
    import torch

    a = t.detach().to("cpu", torch.float32)
    if rope_heads:
        a = rope_rows(a, rope_heads)
    return np.ascontiguousarray(a.numpy().astype(np.float16)).reshape(-1).view(np.uint8)


class WeightTemplate:
    """An OpenVINO IR of the policy's architecture and the place of each of its tensors in the weights."""

    def __init__(self, xml: str, blob, slots: list[Slot], workdir: Path):
        self.xml, self._blob, self.slots, self._workdir = xml, blob, slots, workdir

    @property
    def tokenizer_dir(self) -> Path:
        """Where OpenVINO left the tokenizer IRs it built with the graph (removed by :meth:`close`)."""
        return self._workdir

    @classmethod
    def build(cls, model, hf_dir: str | Path, properties: dict) -> WeightTemplate:
        """Build the IR for ``model`` (a Llama ``*ForCausalLM``) and map its weights; see the module docstring.

        ``hf_dir`` supplies ``tokenizer.json``; ``properties`` are the engine's (:func:`selfif.generation.openvino.engine_properties`)."""
        import numpy as np
        import openvino_genai as og

        work = Path(tempfile.mkdtemp(prefix="selfif-ov-ir-"))
        try:
            gguf = write_gguf(model, hf_dir, work / "model.gguf")
            og.LLMPipeline(str(gguf), "CPU", **properties, enable_save_ov_model=True)  # saves the IR beside the GGUF
            gguf.unlink()
            xml = (work / "openvino_model.xml").read_text(encoding="utf-8")
            blob = np.fromfile(work / "openvino_model.bin", dtype=np.uint8)
            for f in ("openvino_model.xml", "openvino_model.bin"):  # held in memory; the tokenizer IRs stay
                (work / f).unlink()
            slots = _match(xml, blob, model)
            template = cls(xml, blob, slots, work)
            if not np.array_equal(template.blob(model), blob):
                raise LayoutError("the weights rebuilt from the policy differ from OpenVINO's")
            return template
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise

    def blob(self, model):
        """The weight blob with ``model``'s current weights (a new uint8 array)."""
        sd = model.state_dict()
        out = self._blob.copy()
        for s in self.slots:
            out[s.offset : s.offset + s.size] = _f16_bytes(sd[s.name], s.rope_heads)
        return out

    def close(self) -> None:
        shutil.rmtree(self._workdir, ignore_errors=True)


def _match(xml: str, blob, model) -> list[Slot]:
    """Map each weight constant of the IR to a state-dict tensor (see the module docstring)."""
    import numpy as np

    sd = model.state_dict()
    cfg = model.config
    heads = {"q_proj": cfg.num_attention_heads, "k_proj": cfg.num_key_value_heads}
    by_value: dict[bytes, list[str]] = {}  # small tensors (the norms), found by their values
    for name, t in sd.items():
        if t.dim() == 1:
            by_value.setdefault(_f16_bytes(t).tobytes(), []).append(name)
    slots = []
    for _, cname, etype, _shape, off, size in _CONST.findall(xml):
        off, size = int(off), int(size)
        if size < MIN_WEIGHT_BYTES:
            continue
        if etype != "f16":
            raise LayoutError(f"weight constant {cname} is {etype}, expected f16")
        held = blob[off : off + size]
        key = _INDEX.sub(r".\1", cname)
        if key in sd:
            kind = key.split(".")[-2]
            for rope in ((0, heads[kind]) if kind in heads else (0,)):
                if np.array_equal(_f16_bytes(sd[key], rope), held):
                    slots.append(Slot(off, size, key, rope))
                    break
            else:
                raise LayoutError(f"constant {cname} does not hold the policy's {key}")
            continue
        names = by_value.get(held.tobytes(), [])
        if len(names) != 1:
            raise LayoutError(f"constant {cname} ({size} bytes) matches {len(names)} policy tensors, expected 1")
        slots.append(Slot(off, size, names[0]))
    covered = {s.name for s in slots}
    missing = [n for n in sd if n not in covered and not (n == "lm_head.weight" and cfg.tie_word_embeddings)]
    if missing:
        raise LayoutError(f"policy tensors with no place in the IR: {', '.join(missing[:5])}")
    return slots
