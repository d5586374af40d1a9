#!/usr/bin/env bash
# Set-up, then every test: a Release build (CUDA code compiled when nvcc is present) and an
# ASan+UBSan build, both through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMOEKIT_BUILD_TESTS=ON -DMOEKIT_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

# Sanitizers: no CUDA, no benchmarks, no consumer builds (they rebuild the library).
# Leak checking is off until it has been verified free of false positives from OpenMP pools.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOEKIT_BUILD_TESTS=ON -DMOEKIT_CUDA=OFF \
  -DMOEKIT_BUILD_BENCH=OFF -DMOEKIT_INSTALL=OFF -DMOEKIT_SANITIZE="address;undefined" >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j"$jobs" -E consumer)
