#!/usr/bin/env bash
# The CPU speed benchmarks (benchmarks/generation.py, benchmarks/grpo_step.py) on the host CPU of a
# lent GPU machine, pinned to two physical cores with the GPU hidden: the speed target is a 2-core
# CPU with AMX (amx_bf16), which the CI/dev machine lacks (figures: docs/cpu.md). Staged in three device calls on one warm
# machine (one call carries at most 64 MiB); fill the git-ignored folders first with tools/gpu/stage.sh.
# Device calls, each from the repository root there, each within 30 s of the last:
#   1. carry .cache/gpu:              bash tools/gpu/cpu_speed.sh install  (rc 3 where there is no AMX)
#   2. carry .cache/gpu2 .cache/gpu4: bash tools/gpu/cpu_speed.sh model    (GGUF joined, OpenVINO GenAI)
#   3. carry .cache/gpu5:             bash tools/gpu/cpu_speed.sh run [all|generation|generation1|grpo|grpo-long]
#      (the OpenVINO runtime, then the figures to stdout and $OUT)
# ctranslate2 is not carried (43 MB), so generation.py skips its rows there.
set -u
case "$1" in
install)
  grep -m1 "model name" /proc/cpuinfo; nproc
  grep -o -w -E "amx_bf16|amx_tile|avx512_bf16" /proc/cpuinfo | sort | uniq -c
  grep -q -w amx_bf16 /proc/cpuinfo || { echo "no AMX on this host: nothing to measure"; exit 3; }
  bash tools/gpu/ab.sh install ;;
model)
  bash tools/gpu/ab.sh model || exit 1
  pip install -q --no-deps --target /tmp/site .cache/gpu4/*.whl 2>&1 | tail -3 ;;
run)
  [ -d .cache/gpu5 ] && pip install -q --no-deps --target /tmp/site .cache/gpu5/*.whl 2>&1 | tail -3
  PYTHONPATH=/tmp/site python3 -c "import openvino_genai, openvino; print('openvino', openvino.__version__)" || exit 1
  cpus=$(lscpu -p=CPU,CORE | grep -v '^#' | sort -t, -k2,2n -u | head -2 | cut -d, -f1 | paste -sd,)
  echo "pinned to CPUs $cpus (distinct physical cores)"
  export PYTHONPATH=/tmp/site:$PWD/src HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
    CUDA_VISIBLE_DEVICES= PYTHONUNBUFFERED=1
  export PYTHONFAULTHANDLER=1  # a crash prints its Python stack
  # Progress bars end in \r, not \n: split them into lines before dropping them, or a result printed
  # right after a bar is dropped with it. Each benchmark's exit status is printed, since a pipeline hides it.
  bench() { local out=$1; shift
    taskset -c "$cpus" python3 "$@" 2>&1 | tr '\r' '\n' | grep -v "it/s\]\|{'loss'\|^ *$" | tee "$OUT/$out"
    echo "$* exited with ${PIPESTATUS[0]}" | tee -a "$OUT/$out"; }
  what=${2:-all}
  case "$what" in all|generation|generation1) bench generation.txt benchmarks/generation.py ;; esac
  case "$what" in all|generation) bench generation_2threads.txt benchmarks/generation.py --threads 2 ;; esac
  case "$what" in all|grpo) bench grpo_step.txt benchmarks/grpo_step.py --threads 2 ;; esac
  case "$what" in grpo-long) bench grpo_step_long.txt benchmarks/grpo_step.py --threads 2 --steps 2 --completions 16 \
    --max-completion-length 128 ;; esac ;;  # cpu-2h's rollout shape: 16 completions of 128 tokens
esac
