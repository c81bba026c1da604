#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with Debian's clang under AddressSanitizer and
# UndefinedBehaviorSanitizer, then runs each for SECONDS (default 60) from its seed corpus in
# tests/fuzz/corpus/TARGET (copied: the repository's seeds never change). Prints one line per
# target with its executions and findings; exits 1 if any target found a crash, a leak, undefined
# behaviour or an unexpected exception (the reproducer stays in build-fuzz/findings/TARGET/).
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
out=${ZOO_FUZZ_DIR:-build-fuzz}
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(text_pairs text_corpus vocab_tokenizer config checkpoint_meta caption_files detection_files clip_bpe safetensors event_file video_file line_labels play_speeches wordpiece bert_text)
CXX=${ZOO_FUZZ_CXX:-clang++}
command -v "$CXX" > /dev/null || { echo "fuzz: $CXX not found (scripts/setup.sh installs clang)"; exit 1; }

# Each target compiles the few sources it parses with, none of which needs LibTorch. The
# SentencePiece plug-in (Debian's libsentencepiece, not instrumented) is loaded from build/.
declare -A sources=(
  [text_pairs]="data/text_pairs.cpp lib/text/utf8.cpp lib/core/files.cpp lib/core/random.cpp lib/core/options.cpp"
  [text_corpus]="data/text_corpus.cpp data/text_pairs.cpp lib/text/utf8.cpp lib/core/files.cpp lib/core/random.cpp lib/core/options.cpp"
  [vocab_tokenizer]="lib/text/vocab.cpp lib/text/tokenizer.cpp lib/text/sentencepiece.cpp lib/text/utf8.cpp lib/core/options.cpp"
  [config]="lib/core/options.cpp lib/core/option_schema.cpp lib/core/error.cpp"
  [checkpoint_meta]="lib/core/checkpoint_file.cpp lib/core/options.cpp lib/core/error.cpp"
  [caption_files]="data/caption_files.cpp lib/text/utf8.cpp lib/core/error.cpp"
  [detection_files]="data/detection_files.cpp data/caption_files.cpp lib/text/utf8.cpp lib/detect/coco_eval.cpp lib/core/error.cpp"
  [clip_bpe]="lib/text/clip_bpe.cpp lib/text/tokenizer.cpp lib/text/sentencepiece.cpp lib/text/utf8.cpp lib/core/files.cpp lib/core/options.cpp lib/core/error.cpp"
  [safetensors]="lib/export/safetensors_format.cpp lib/core/error.cpp"
  [event_file]="lib/train/tensorboard.cpp $out/proto/tensorboard_event.pb.cc lib/core/atomic_file.cpp lib/core/files.cpp lib/core/error.cpp"
  [video_file]="data/video_file.cpp lib/core/random.cpp lib/core/error.cpp"
  [line_labels]="data/line_labels.cpp lib/text/utf8.cpp lib/core/error.cpp"
  [play_speeches]="data/play_speeches.cpp lib/text/utf8.cpp lib/core/error.cpp"
  [wordpiece]="lib/text/wordpiece.cpp lib/text/tokenizer.cpp lib/text/sentencepiece.cpp lib/text/utf8.cpp lib/core/files.cpp lib/core/options.cpp lib/core/error.cpp"
  [bert_text]="data/line_labels.cpp lib/text/wordpiece_vocab.cpp lib/text/wordpiece.cpp lib/text/tokenizer.cpp lib/text/sentencepiece.cpp lib/text/utf8.cpp lib/core/files.cpp lib/core/options.cpp lib/core/error.cpp"
)
# What a target needs beyond the sources: event_file parses with the protocol buffers protoc
# generates from lib/train/proto (into $out/proto) and Debian's libprotobuf; video_file decodes
# with Debian's FFmpeg and OpenCV (not instrumented: a crash inside them is still a finding). The
# definitions only switch on code in tensorboard.cpp and video_file.cpp, so every object is built
# with all of them.
declare -A libs=(
  [event_file]="-lprotobuf"
  [video_file]="-lavformat -lavcodec -lavutil -lswscale -lopencv_videoio -lopencv_imgproc -lopencv_core"
)
defines=(-I"$out/proto" -DZOO_TENSORBOARD -DZOO_VIDEOIO -I/usr/include/opencv4)
flags=(-std=c++17 -O1 -g -I. -DZOO_NO_DEEPBIND -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
mkdir -p "$out/obj"
if [[ " ${targets[*]} " == *" event_file "* ]]; then
  mkdir -p "$out/proto"
  protoc --proto_path=lib/train/proto --cpp_out="$out/proto" lib/train/proto/tensorboard_event.proto
fi
for target in "${targets[@]}"; do
  [[ -n ${sources[$target]:-} ]] || { echo "fuzz: unknown target '$target' (known: ${!sources[*]})"; exit 2; }
done
# Compiling and fuzzing run a process per core at once. Each source is compiled once, instrumented
# for coverage without libFuzzer's main (-fsanitize=fuzzer-no-link), and shared by the targets that
# parse with it (the smoke test in CI compiled utf8.cpp ten times before); then each target links.
parallel=$(nproc 2> /dev/null || echo 1)
throttle() { while (( $(jobs -rp | wc -l) >= parallel )); do wait -n || true; done; }
object() { local o=${1//\//_}; echo "$out/obj/${o%.*}.o"; }

declare -A unique=()
for target in "${targets[@]}"; do
  for src in tests/fuzz/fuzz_$target.cpp ${sources[$target]}; do unique[$src]=1; done
done
for src in "${!unique[@]}"; do
  throttle
  rm -f "$(object "$src")"
  "$CXX" "${flags[@]}" "${defines[@]}" -fsanitize=fuzzer-no-link,address,undefined -c "$src" -o "$(object "$src")" \
    > "$(object "$src").log" 2>&1 &
done
wait
for src in "${!unique[@]}"; do
  [[ -f $(object "$src") ]] || { cat "$(object "$src").log"; echo "fuzz: compiling $src failed"; exit 1; }
done
for target in "${targets[@]}"; do
  throttle
  rm -f "$out/fuzz_$target"
  objects=()
  for src in tests/fuzz/fuzz_$target.cpp ${sources[$target]}; do objects+=("$(object "$src")"); done
  # shellcheck disable=SC2086
  "$CXX" -fsanitize=fuzzer,address,undefined "${objects[@]}" -o "$out/fuzz_$target" ${libs[$target]:-} -lz -licuuc -licui18n -ldl -lpthread \
    > "$out/$target.build.log" 2>&1 &
done
wait
for target in "${targets[@]}"; do
  [[ -x $out/fuzz_$target ]] || { cat "$out/$target.build.log"; echo "fuzz: linking fuzz_$target failed"; exit 1; }
done

run_target() {
  local target=$1 corpus=$out/corpus/$1 findings=$out/findings/$1
  rm -rf "$findings" "$out/$target.result" && mkdir -p "$corpus" "$findings"
  cp -n tests/fuzz/corpus/"$target"/* "$corpus"/ 2> /dev/null || true
  # -rss_limit_mb: the 10 MB-line inputs of a parser are fine, a runaway allocation is a finding.
  if ZOO_SENTENCEPIECE_LIB=${ZOO_SENTENCEPIECE_LIB:-build/libzoo_sentencepiece.so} \
     "$out/fuzz_$target" "$corpus" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -max_len=65536 \
       -artifact_prefix="$findings/" > "$out/$target.log" 2>&1; then
    echo "no finding" > "$out/$target.result"
  else
    echo "FINDING (see $out/$target.log and $findings/)" > "$out/$target.result"
  fi
}
for target in "${targets[@]}"; do
  throttle
  run_target "$target" &
done
wait

status=0
for target in "${targets[@]}"; do
  result=$(cat "$out/$target.result" 2> /dev/null || echo "FINDING (the run left no result; see $out/$target.log)")
  [[ $result == "no finding" ]] || status=1
  executions=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$out/$target.log" | awk '{print $2}' | tail -1 || true)
  echo "fuzz_$target: ${seconds} s, ${executions:-?} executions, corpus $(ls "$out/corpus/$target" | wc -l) inputs, $result"
done
exit $status
