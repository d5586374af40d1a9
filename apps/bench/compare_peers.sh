#!/usr/bin/env bash
# Side-by-side: moekit's GMM EM iteration vs scikit-learn's on the same data, same machine,
# same run. Usage: apps/bench/compare_peers.sh [build-dir]   (needs python3-sklearn)
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/apps/bench/bench_gmm" --write-csv "$tmp/gmm.csv"
echo "== moekit (bench_gmm) =="
"$build/apps/bench/bench_gmm" --benchmark_min_time=2
echo "== scikit-learn =="
for t in 1 2; do
  OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t MKL_NUM_THREADS=$t /usr/bin/python3 "$here/gmm_sklearn.py" "$tmp/gmm.csv" "$t"
done
echo "== CSV reader =="
"$build/apps/bench/bench_csv"
