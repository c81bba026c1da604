#!/usr/bin/env bash
# zoo against its PyTorch twins: each `zoo bench` configuration and the benchmarks/pytorch_*.py
# program written as an experienced PyTorch engineer writes the same step, run alternately
# (zoo first in odd rounds, the twin first in even ones), one process per run, same thread count.
# Prints the Markdown table docs/PERFORMANCE.md carries: the median rate of each side, every run,
# the ratio of the medians, zoo's share of the machine's fp32 GEMM ceiling, and each side's peak
# resident memory (the whole process's high-water mark: zoo's from VmHWM, the twin's from GNU time).
#
# The ceiling is `zoo bench --config gemm_2048` (a 2048^3 float32 product through the kernel zoo's
# products run on: oneDNN's sgemm where LibTorch loads it, lib/core/onednn_matmul.h, else the BLAS), the best of three runs before the first configuration and three after the last. A step's work is the floating-point
# operations of its matrix products and convolutions, counted by LibTorch's profiler in one
# profiled run of the twin (benchmarks/twin.py: PRODUCT_OPS); zoo's step does the same products.
#
# Usage: scripts/bench_compare.sh [--rounds 2] [--threads 2] [--steps 5] [--precision fp32|bf16]
#                                 [--profile DIR] [--raw FILE] [CONFIG...]
#   CONFIG: configurations with a twin (default: all of them; with bf16, the three that take it).
#   --precision bf16: both sides under bf16 autocast. --profile DIR: also profile each side
#   (DIR/CONFIG.zoo.trace.json, DIR/CONFIG.twin.trace.json) and print where each step's time goes
#   (benchmarks/profile_table.py). --raw keeps every run's JSON line.
#   ZOO (default build/zoo) and PYTHON (default /usr/bin/python3, Debian's, with torch) override.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=2 threads=2 steps=5 raw="" precision=fp32 profile=""
configs=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    --profile) profile=$2; shift 2 ;;
    --raw) raw=$2; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bench_compare: unknown option $1" >&2; exit 2 ;;
    *) configs+=("$1"); shift ;;
  esac
done
zoo=${ZOO:-build/zoo}
python=${PYTHON:-/usr/bin/python3}
[[ -x $zoo ]] || { echo "bench_compare: $zoo not built (scripts/build.sh)" >&2; exit 1; }

# Each configuration's twin and the arguments that make it the faster of its variants here.
declare -A twin=(
  [resnet18_64]="pytorch_resnet18.py"
  [loader_folder]="pytorch_loader_folder.py"
  [gru_bahdanau]="pytorch_gru_bahdanau.py"
  [lstm_lm]="pytorch_lstm_lm.py"
  [gpt_char]="pytorch_gpt_char.py"
  [transformer_mt]="pytorch_transformer_mt.py"
  [vit_cifar]="pytorch_vit_cifar.py"
  [timesformer_small]="pytorch_timesformer.py"
  [crnn_lines]="pytorch_crnn.py"
  [bert_mini_mlm]="pytorch_bert.py"
  [adamw_bert_mini]="pytorch_adamw.py"
  [softmax_ce_6000]="pytorch_softmax_ce.py"
  [sat_soft]="pytorch_sat_soft.py"
  [detr_r50]="pytorch_detr.py"
  [clip_small]="pytorch_clip.py"
  [byol_r18]="pytorch_byol.py --channels-last"
  [dino_vit_tiny]="pytorch_dino.py"
  [sample_gpt]="pytorch_gpt_sample.py"
  [classify_r50_ts]="pytorch_classify_r50_ts.py"
  [beam_transformer_mt]="pytorch_beam_transformer.py"
)
order=(resnet18_64 loader_folder gru_bahdanau lstm_lm gpt_char transformer_mt vit_cifar timesformer_small crnn_lines bert_mini_mlm adamw_bert_mini softmax_ce_6000 sat_soft detr_r50 clip_small byol_r18 dino_vit_tiny sample_gpt beam_transformer_mt classify_r50_ts)
case $precision in
  fp32) ;;
  bf16) mixed=(resnet18_64 transformer_mt vit_cifar)  # the configurations zoo bench --precision takes
        [[ ${#configs[@]} -gt 0 ]] || configs=("${mixed[@]}") ;;
  *) echo "bench_compare: --precision fp32 or bf16, not '$precision'" >&2; exit 2 ;;
esac
[[ ${#configs[@]} -gt 0 ]] || configs=("${order[@]}")
for c in "${configs[@]}"; do
  [[ -n ${twin[$c]:-} ]] || { echo "bench_compare: no twin for '$c'; known: ${order[*]}" >&2; exit 2; }
done

runs=$(mktemp)
work=$(mktemp -d)
trap 'rm -rf "$runs" "$runs.time" "$work"' EXIT
traces=${profile:-$work}
mkdir -p "$traces"
# Appends zoo's JSON line for configuration $1 to $runs, marked with side $2 (zoo, ceiling).
run_zoo() {
  local extra=()
  [[ $1 == gemm_2048 ]] || extra=(--precision "$precision")
  "$zoo" bench --config "$1" --threads "$threads" --steps "$steps" "${extra[@]}" --json |
    "$python" -c 'import json,sys; r=json.loads(sys.stdin.readline()); r["side"]=sys.argv[1]; print(json.dumps(r))' "${2:-zoo}" >> "$runs"
}
# The twins run with the allocator settings zoo gives itself (lib/core/runtime.cpp: no mapped
# blocks, no trimming), as an engineer tuning PyTorch on the CPU would set them: with glibc's
# defaults each large temporary is mapped and page-faulted in again every step, which on these
# virtual machines made the softmax_ce_6000 twin 20x slower (339 ms against 17 ms a step).
twin_malloc="glibc.malloc.mmap_threshold=33554432:glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1073741824"
# Appends the twin's JSON line for configuration $1 to $runs, marked with side $2 (twin, or
# profile for the one profiled run, whose timed steps are not counted); more twin options follow.
run_twin() {
  local config=$1 side=${2:-twin} script=${twin[$1]%% *} args=""
  shift $(($# < 2 ? $# : 2))
  [[ ${twin[$config]} == *" "* ]] && args=${twin[$config]#* }
  # shellcheck disable=SC2086
  (cd benchmarks && env GLIBC_TUNABLES="$twin_malloc" ${blas_core:+OPENBLAS_CORETYPE=$blas_core} /usr/bin/time -f '%M' -o "$runs.time" "$python" "$script" $args --threads "$threads" --steps "$steps" --precision "$precision" "$@") |
    tail -n 1 | "$python" -c 'import json,sys; r=json.loads(sys.stdin.read()); r["side"]=sys.argv[3]; r["config"]=sys.argv[1]; r["peak_rss_mb"]=int(open(sys.argv[2]).read().split()[-1])/1024; print(json.dumps(r))' "$config" "$runs.time" "$side" >> "$runs"
}
# The ceiling: the best of three runs before and three after (the machines are shared).
ceiling_runs() {
  echo "bench_compare: the fp32 GEMM ceiling (gemm_2048)" >&2
  for _ in 1 2 3; do run_zoo gemm_2048 ceiling; done
}
ceiling_runs
# The twins run on the OpenBLAS kernels zoo runs on: where OpenBLAS does not know the CPU, zoo
# starts itself again with better ones (lib/core/blas_kernels.h), as OPENBLAS_CORETYPE does here.
blas_core=${OPENBLAS_CORETYPE:-$("$python" -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1])][-1].get("blas_core", ""))' "$runs")}
for c in "${configs[@]}"; do
  for ((r = 1; r <= rounds; r++)); do
    echo "bench_compare: $c round $r/$rounds" >&2
    if ((r % 2)); then run_zoo "$c"; run_twin "$c"; else run_twin "$c"; run_zoo "$c"; fi
  done
  # The step's floating-point work (and, with --profile, both sides' traces): runs of their own.
  # Not for the loader (no products), beam_transformer_mt (the profiler's record of three whole
  # searches took zoo to 10.9 GB and the twin was killed for memory) or classify_r50_ts (the
  # profiler does not count the frozen graph's oneDNN convolutions: 0.07 of ~131 GFLOP).
  [[ $c == loader_folder || $c == beam_transformer_mt || $c == classify_r50_ts ]] && continue
  echo "bench_compare: $c profiled" >&2
  run_twin "$c" profile --warmup 2 --profile "$traces/$c.twin"
  [[ -z $profile ]] || "$zoo" bench --config "$c" --threads "$threads" --steps "$steps" --precision "$precision" --profile "$profile" --json > /dev/null
done
ceiling_runs
[[ -z $raw ]] || cp "$runs" "$raw"

"$python" - "$runs" "$threads" "$steps" "$rounds" "$precision" "$traces" <<'PY'
import json, os, platform, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
precision, traces = sys.argv[5], sys.argv[6]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
flags = open("/proc/cpuinfo").read()
isa = "AMX" if "amx_bf16" in flags else "AVX-512 BF16" if "avx512_bf16" in flags else "AVX-512" if "avx512f" in flags else "AVX2"
ceiling = max(r["per_s"] for r in runs if r["side"] == "ceiling")
blas = next((r["blas_core"] for r in runs if r.get("blas_core")), "")
matmul = next((r["matmul"] for r in runs if r.get("matmul")), "")
print(f"{cpu} ({isa}), {sys.argv[2]} threads, {sys.argv[3]} timed steps, {sys.argv[4]} alternated rounds, {precision}; "
      f"fp32 GEMM ceiling {ceiling:.0f} GFLOP/s (gemm_2048, best of {sum(r['side'] == 'ceiling' for r in runs)})"
      + (f"; OpenBLAS kernels {blas}, both sides" if blas else "")
      + ("; zoo's float32 products through oneDNN's sgemm" if matmul == "onednn" else ""))
print()
print("| config | unit | zoo /s (runs) | twin /s (runs) | zoo / twin | GFLOP / step | zoo % of ceiling | zoo peak MB | twin peak MB |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for config in dict.fromkeys(r["config"] for r in runs if r["side"] == "zoo"):
    side = {s: [r for r in runs if r["config"] == config and r["side"] == s] for s in ("zoo", "twin")}
    rate = {s: statistics.median(r["per_s"] for r in side[s]) for s in side}
    each = {s: ", ".join(f"{r['per_s']:,.1f}" for r in side[s]) for s in side}
    peak = {s: max(r["peak_rss_mb"] for r in side[s]) for s in side}
    work, share = "-", "-"
    profiled = [r for r in runs if r["config"] == config and r["side"] == "profile"]
    flops_file = os.path.join(traces, config + ".twin.flops.json")
    if profiled and os.path.exists(flops_file):
        gflop = json.load(open(flops_file))["gflop_per_step"]
        units_per_step = profiled[0]["per_s"] * profiled[0]["step_ms"] / 1000
        if gflop > 0:
            work = f"{gflop:,.2f}"
            share = f"{100 * rate['zoo'] / units_per_step * gflop / ceiling:.0f}%"
    print(f"| {config} | {side['zoo'][0]['unit']} | {rate['zoo']:,.1f} ({each['zoo']}) | {rate['twin']:,.1f} ({each['twin']}) | "
          f"**{rate['zoo'] / rate['twin']:.2f}x** | {work} | {share} | {peak['zoo']:,.0f} | {peak['twin']:,.0f} |")
PY
[[ -n $profile ]] || exit 0
for c in "${configs[@]}"; do
  [[ -f $profile/$c.zoo.trace.json && -f $profile/$c.twin.trace.json ]] || continue
  printf '\n%s, where a step goes (LibTorch profiler, 3 profiled steps each side, ms per step):\n\n' "$c"
  "$python" benchmarks/profile_table.py "$profile/$c.zoo.trace.json" 3 "$profile/$c.twin.trace.json" 3
done
