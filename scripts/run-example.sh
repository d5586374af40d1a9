#!/usr/bin/env bash
# Set-up, build and the main job: a two-component Gaussian mixture of Old Faithful.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMOEKIT_BUILD_TESTS=OFF -DMOEKIT_BUILD_BENCH=OFF >/dev/null
cmake --build build -j"$(nproc)" --target moekit_cli
build/apps/moekit/moekit fit datasets/faithful.csv -k 2 --restarts 10 --seed 1 "$@"
