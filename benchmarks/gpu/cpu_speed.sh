#!/usr/bin/env bash
# Issue 9's CPU benchmarks (benchmarks/generation.py, benchmarks/grpo_step.py) on the host CPU of a
# lent GPU machine, pinned to two physical cores with the GPU hidden: the target is a 2-core
# CPU with AMX (amx_bf16), which the CI/dev machine lacks. Staged in two device calls (one call
# carries at most 64 MiB); fill the git-ignored folders first with benchmarks/gpu/stage.sh.
# Device calls, each from the repository root there:
#   1. carry .cache/gpu:  bash benchmarks/gpu/cpu_speed.sh install  (stops with rc 3 where there is no AMX)
#   2. carry .cache/gpu2: bash benchmarks/gpu/cpu_speed.sh run [all|generation|grpo]   (figures to stdout and $OUT)
# ctranslate2 is not carried (43 MB), so generation.py skips its rows there.
set -u
case "$1" in
install)
  grep -m1 "model name" /proc/cpuinfo; nproc
  grep -o -w -E "amx_bf16|amx_tile|avx512_bf16" /proc/cpuinfo | sort | uniq -c
  grep -q -w amx_bf16 /proc/cpuinfo || { echo "no AMX on this host: nothing to measure"; exit 3; }
  bash benchmarks/gpu/ab.sh install ;;
run)
  bash benchmarks/gpu/ab.sh model || exit 1
  mkdir -p ../shared/benchmarks && cp .cache/gpu2/ifeval_input_data.jsonl ../shared/benchmarks/
  cpus=$(lscpu -p=CPU,CORE | grep -v '^#' | sort -t, -k2,2n -u | head -2 | cut -d, -f1 | paste -sd,)
  echo "pinned to CPUs $cpus (distinct physical cores)"
  export PYTHONPATH=/tmp/site:$PWD/src HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
    CUDA_VISIBLE_DEVICES= PYTHONUNBUFFERED=1
  what=${2:-all}
  if [ "$what" != grpo ]; then
    taskset -c "$cpus" python3 benchmarks/generation.py 2>&1 | grep -v "it/s\]" | tee "$OUT/generation.txt"
    taskset -c "$cpus" python3 benchmarks/generation.py --threads 2 2>&1 | grep -v "it/s\]" | tee "$OUT/generation_2threads.txt"
  fi
  [ "$what" != generation ] &&
    taskset -c "$cpus" python3 benchmarks/grpo_step.py --threads 2 2>&1 | grep -v "it/s\]\|{'loss'" | tee "$OUT/grpo_step.txt" ;;
esac
