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
echo "reference: loglik -1130.26396 from mclust 6.0.0 Mclust(faithful, G = 2, modelNames = \"VVV\")" \
     "at tol 1e-12 and from scikit-learn 1.2.1 (tests/reference/values/faithful_gmm.json)"
