#!/usr/bin/env bash
# One call's worth of CUDA checks on a lent GPU machine (device tool): build against its PyTorch,
# unit tests, `zoo bench` on CUDA, the CLI tests with --device auto (= cuda there), and a
# backtrace of any crash (cuda-gdb, the only debugger there). Logs go to $OUT.
#
# Prepare here, once per session:
#   echo /.gpu/ >> .git/info/exclude
#   scripts/device/pack_sysroot.sh .gpu
#   mkdir -p .gpu/data && cp -r ../shared/data/{multi30k,tiny_coco,tinyshakespeare.txt} .gpu/data/
# then run `bash scripts/device/check_cuda.sh` through the device tool with carry [".gpu"].
# One device command may run 10 minutes: `check_cuda.sh build` (build, unit tests, benchmarks)
# and then, on the still-warm machine, `check_cuda.sh cli` (the CLI tests and the exported graphs
# on CUDA) split the work in two; `check_cuda.sh cli TEST...` runs only the named CLI tests.
# The device tool brings back at most 8 files from $OUT: the build phase writes 5 (env, build,
# unit and bench logs), so run it with OUT pointing elsewhere when a later step needs the slots.
set -uo pipefail
phase=${1:-all}
cli_tests=("${@:2}")
[[ ${#cli_tests[@]} -gt 0 ]] || cli_tests=(test_transformer test_vision test_lm test_translate test_cli test_reliability)
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/zoo-check}; mkdir -p "$out"
mkdir -p ../shared && ln -sfn "$PWD/.gpu/data" ../shared/data
{ nvidia-smi -L; python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'; } 2>&1 | tee "$out/env.txt"
if [[ $phase != cli ]]; then
  t0=$(date +%s)
  scripts/device/build_cuda.sh .gpu/sysroot.tar.xz build-cuda > "$out/build.log" 2>&1
  echo "build rc=$? in $(( $(date +%s) - t0 )) s"; grep -E "error:|FAILED" "$out/build.log" | head -20
fi
[[ -x build-cuda/zoo ]] || exit 1
source /opt/zoo-sysroot/env.sh
Z=$PWD/build-cuda/zoo
# A crash prints its backtrace; anything else just runs.
traced() { cuda-gdb -q -batch -ex run -ex bt --args "$@" 2>&1 | grep -E -A30 "received signal|^#[0-9]" | head -40; }
if [[ $phase != cli ]]; then
  build-cuda/tests/unit_tests > "$out/unit.log" 2>&1; rc=$?; echo "unit rc=$rc"; tail -3 "$out/unit.log"
  [[ $rc -ge 128 ]] && traced build-cuda/tests/unit_tests
  for config in resnet18_64 loader_folder gemm_2048 gru_bahdanau lstm_lm gpt_char transformer_mt vit_cifar sat_soft; do
    "$Z" bench --config $config --device cuda --steps 20 --json >> "$out/bench.jsonl" 2>> "$out/bench.err"; rc=$?
    echo "bench $config rc=$rc"; [[ $rc -ge 128 ]] && traced "$Z" bench --config $config --device cuda --steps 1
  done
  cat "$out/bench.jsonl"
fi
[[ $phase == build ]] && exit 0
export ZOO=$Z ZOO_LOGITS=$PWD/build-cuda/tests/zoo_logits ZOO_WEIGHTS=$PWD/build-cuda/tests/zoo_weights
export ZOO_SHARED_DATA=$PWD/../shared/data ZOO_PYTHON=$(command -v python3)
# cli_reliability's 40 kill-and-resume cycles take ~3 minutes there (CUDA start-up per process).
for t in "${cli_tests[@]}"; do
  t0=$(date +%s); ZOO_WORK=/tmp/zw-$t timeout 240 bash tests/cli/$t.sh > "$out/$t.log" 2>&1
  echo "$t rc=$? in $(( $(date +%s) - t0 )) s"; grep FAIL "$out/$t.log" | cut -c1-300; tail -1 "$out/$t.log"
done
# The exported graphs name no device: loaded onto CUDA, they give what they gave on the CPU.
W=/tmp/zw-test_transformer/transformer
python3 tests/cli/greedy_torchscript.py $W/tf.pt $W/greedy.txt 14 cuda && echo "exported transformer greedy on cuda: ok"
python3 - /tmp/zw-test_vision/vision/{vit,deit,swin,sa}.pt <<'PY'
import sys, torch
for path in sys.argv[1:]:
    try:
        cpu, gpu = torch.jit.load(path), torch.jit.load(path, map_location="cuda")
    except Exception as e:
        print(path, "not loaded:", e); continue
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        diff = (cpu(x) - gpu(x.cuda()).cpu()).abs().max().item()
    print(f"{path} on cuda vs cpu: max |diff| {diff:.2e}")
PY
