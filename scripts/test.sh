#!/usr/bin/env bash
# Installs, checks the layering, builds and runs every test: Catch2 unit tests, end-to-end CLI
# tests, parity with torchvision, and a short real-data CIFAR-10 run (all through ctest).
#   scripts/test.sh [--full] [CTEST ARGS...]
# By default (CI) the CLI tests' learning runs take a few steps and their checks of what was
# learnt are listed as skipped; --full (ZOO_TEST_FULL=1) runs them at the budgets those checks need.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ${1:-} == --full ]]; then export ZOO_TEST_FULL=1; shift; fi
scripts/setup.sh
scripts/check_layers.sh  # includes point down the layers (docs/ARCHITECTURE.md); seconds, before the build
scripts/build.sh
# One test at a time: each uses every core already.
ctest --test-dir "${ZOO_BUILD_DIR:-build}" --output-on-failure "$@"
