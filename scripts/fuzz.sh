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
[[ ${#targets[@]} -gt 0 ]] || targets=(text_pairs text_corpus vocab_tokenizer config checkpoint_meta caption_files)
CXX=${ZOO_FUZZ_CXX:-clang++}
command -v "$CXX" > /dev/null || { echo "fuzz: $CXX not found (scripts/setup.sh installs clang)"; exit 1; }

# Each target compiles the few sources it parses with, none of which needs LibTorch. The
# SentencePiece plug-in (Debian's libsentencepiece, not instrumented) is loaded from build/.
declare -A sources=(
  [text_pairs]="data/text_pairs.cpp lib/text/utf8.cpp lib/core/random.cpp lib/core/options.cpp"
  [text_corpus]="data/text_corpus.cpp data/text_pairs.cpp lib/text/utf8.cpp lib/core/random.cpp lib/core/options.cpp"
  [vocab_tokenizer]="lib/text/vocab.cpp lib/text/tokenizer.cpp lib/text/sentencepiece.cpp lib/text/utf8.cpp lib/core/options.cpp"
  [config]="lib/core/options.cpp lib/core/option_schema.cpp lib/core/error.cpp"
  [checkpoint_meta]="lib/core/checkpoint_file.cpp lib/core/options.cpp lib/core/error.cpp"
  [caption_files]="data/caption_files.cpp lib/core/error.cpp"
)
flags=(-std=c++17 -O1 -g -I. -DZOO_NO_DEEPBIND -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
mkdir -p "$out"
status=0
for target in "${targets[@]}"; do
  [[ -n ${sources[$target]:-} ]] || { echo "fuzz: unknown target '$target' (known: ${!sources[*]})"; exit 2; }
  binary=$out/fuzz_$target
  # shellcheck disable=SC2086
  "$CXX" "${flags[@]}" "tests/fuzz/fuzz_$target.cpp" ${sources[$target]} -o "$binary" -lz -licuuc -licui18n -ldl -lpthread
  corpus=$out/corpus/$target findings=$out/findings/$target
  rm -rf "$findings" && mkdir -p "$corpus" "$findings"
  cp -n tests/fuzz/corpus/"$target"/* "$corpus"/ 2> /dev/null || true
  log=$out/$target.log
  # -rss_limit_mb: the 10 MB-line inputs of a parser are fine, a runaway allocation is a finding.
  if ZOO_SENTENCEPIECE_LIB=${ZOO_SENTENCEPIECE_LIB:-build/libzoo_sentencepiece.so} \
     "$binary" "$corpus" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -max_len=65536 \
       -artifact_prefix="$findings/" > "$log" 2>&1; then
    result="no finding"
  else
    result="FINDING (see $log and $findings/)"
    status=1
  fi
  executions=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1)
  echo "fuzz_$target: ${seconds} s, ${executions:-?} executions, corpus $(ls "$corpus" | wc -l) inputs, $result"
done
exit $status
