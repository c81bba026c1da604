#!/usr/bin/env bash
# Configures (once) and builds zoo, its unit tests and test helpers into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${ZOO_BUILD_DIR:-build}
if [[ ! -f $build/build.ninja ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=ON
fi
cmake --build "$build"
