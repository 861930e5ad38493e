#!/usr/bin/env bash
# Installs the Debian packages fp4gptq needs to build, test and benchmark (--fuzz: and to fuzz). Idempotent: packages already
# present are skipped, and apt is only asked when something is missing.
set -euo pipefail

PACKAGES=(
  g++ cmake ninja-build pkg-config
  libopenblas-dev liblapacke-dev
  libdnnl-dev
  nlohmann-json3-dev zlib1g-dev libcli11-dev libspdlog-dev libfmt-dev libpcre2-dev
  libonig-dev libicu-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3
  # data-parallel quantize over MPI (FP4GPTQ_MPI; mpirun in the tests)
  libopenmpi-dev openmpi-bin
  # the Python package (its native module, its tests and the documented venv install)
  python3-dev python3-venv python3-setuptools python3-pip pybind11-dev python3-pybind11 python3-pytest python3-numpy
)

# scripts/fuzz.sh needs clang and its libFuzzer/sanitizer runtimes as well.
if [ "${1:-}" = "--fuzz" ]; then PACKAGES+=(clang libclang-rt-dev); fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present" >&2
fi
