#!/usr/bin/env bash
# Builds the unit tests under AddressSanitizer and UndefinedBehaviorSanitizer (gcc, into
# build-asan/) and runs them. LibTorch, OpenCV and the other Debian libraries are not
# instrumented: what is checked is zoo's own code and its use of theirs.
#   scripts/sanitize.sh [CATCH2 ARGS...]     e.g. scripts/sanitize.sh "[text]"
set -euo pipefail
cd "$(dirname "$0")/.."
build=${ZOO_ASAN_BUILD_DIR:-build-asan}
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
if [[ ! -f $build/build.ninja ]]; then
  # No SentencePiece plug-in: AddressSanitizer refuses the RTLD_DEEPBIND it is loaded with, and
  # without it its protobuf would meet LibTorch's. Its test is left out below.
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON -DZOO_SENTENCEPIECE=OFF \
    -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="$flags"
fi
cmake --build "$build" --target unit_tests
# Leak checking is off: LibTorch keeps process-lifetime allocations (its op registry, thread
# pools) that LeakSanitizer reports at exit although nothing is lost while running.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [[ $# -eq 0 ]]; then set -- "~[sentencepiece]"; fi
"$build/tests/unit_tests" "$@"
