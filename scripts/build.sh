#!/usr/bin/env bash
# Configures (once) and builds zoo, its unit tests and test helpers into build/. ZOO_CCACHE=OFF
# (CI, whose cache is always cold) compiles without ccache.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${ZOO_BUILD_DIR:-build}
if [[ ! -f $build/build.ninja ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=ON -DZOO_CCACHE="${ZOO_CCACHE:-ON}"
fi
cmake --build "$build"
