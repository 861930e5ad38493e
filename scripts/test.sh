#!/usr/bin/env bash
# Builds everything and runs the whole test suite (GoogleTest via CTest, plus the fuzz seed corpora). The
# golden files the tests compare against are in the repository (tests/data/golden/).
#   scripts/test.sh              the suite (build/, Release)
#   scripts/test.sh --sanitize   the same suite under ASan + UBSan (build-sanitize/); any report fails it
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--sanitize" ]; then
  [ -f build-sanitize/build.ninja ] || cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DFP4GPTQ_SANITIZE=ON -DFP4GPTQ_BUILD_BENCH=OFF -DFP4GPTQ_MPI=OFF >/dev/null  # (Open MPI is not ASan-clean)
  cmake --build build-sanitize
  # Leaks are reported, except inside the uninstrumented math libraries' thread pools (scripts/lsan.supp).
  export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:strict_string_checks=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp"
  ctest --test-dir build-sanitize --output-on-failure -j "$(nproc)"
  exit
fi
scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)"
