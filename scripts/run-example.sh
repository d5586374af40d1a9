#!/usr/bin/env bash
# Set-up, build and the main job: a two-component Gaussian mixture of Old Faithful. The
# Python module (build/python, when /usr/bin/python3 and pybind11 are present) is built too.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMOEKIT_BUILD_TESTS=OFF -DMOEKIT_BUILD_BENCH=OFF >/dev/null
targets=(moekit_cli)
if cmake --build build --target help | grep -q moekit_python; then
  targets+=(moekit_python)
fi
cmake --build build -j"$(nproc)" --target "${targets[@]}"
build/apps/moekit/moekit fit datasets/faithful.csv -k 2 --restarts 10 --seed 1 "$@"
