#!/usr/bin/env bash
# Set-up, then every test: a Release build (CUDA code compiled when nvcc is present) and an
# ASan+UBSan build, both through CTest, then a bounded fuzz run (scripts/run-fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMOEKIT_BUILD_TESTS=ON -DMOEKIT_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

# Sanitizers (address with leak checking, undefined): no CUDA, no benchmarks, no consumer
# builds (they rebuild the library). Portable code (MOEKIT_NATIVE=OFF, baseline x86-64), so
# that every test, the reference tests among them, runs both in the native Release build
# and in the portable build. -O1 -g1 (line tables for the reports) compiles in half
# the time of -O2 -g on CI's two cores.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DMOEKIT_BUILD_TESTS=ON -DMOEKIT_CUDA=OFF \
  -DMOEKIT_BUILD_BENCH=OFF -DMOEKIT_INSTALL=OFF -DMOEKIT_NATIVE=OFF -DMOEKIT_SANITIZE="address;undefined" >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j"$jobs" -E consumer -LE mpi)

# Fuzzing (docs/reliability.md): clang, ASan + UBSan; the CSV, formula, model-file and
# prediction harnesses replay their regression inputs, then run 30 s side by side; under
# three minutes with the build on two cores.
scripts/run-fuzz.sh 30
