#!/usr/bin/env bash
# Fuzzes the parsers of untrusted files (fuzz/) with libFuzzer under ASan + UBSan (clang, Debian's
# libclang-rt-dev), each target for SECONDS (default 60), starting from its seed corpus in fuzz/corpus/<target>/.
# New inputs go to build-fuzz/corpus/<target>/, never into the repository; a crash is left in build-fuzz/ as
# crash-* and fails the run (add it to fuzz/corpus/<target>/ with the fix, so the suite replays it).
#   scripts/fuzz.sh [SECONDS] [TARGET...]     targets: safetensors_header config calibration_line index
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(safetensors_header config calibration_line index)
scripts/setup.sh --fuzz
[ -f build-fuzz/build.ninja ] || CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFP4GPTQ_FUZZ=ON -DFP4GPTQ_BUILD_TESTS=OFF -DFP4GPTQ_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz --target "${targets[@]/#/fuzz_}"
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp"
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t"
  echo "fuzz: $t for ${seconds}s" >&2
  (cd build-fuzz && "./fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 \
    -print_final_stats=1 "corpus/$t" "../fuzz/corpus/$t")
done
