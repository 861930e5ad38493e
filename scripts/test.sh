#!/usr/bin/env bash
# Builds everything and runs the whole test suite (GoogleTest via CTest). The golden files the tests compare
# against are in the repository (tests/data/golden/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)"
