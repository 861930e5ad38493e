#!/usr/bin/env bash
# Builds everything and runs the whole test suite (GoogleTest via CTest). Needs ../shared/golden beside the
# project root for the golden-file tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)"
