#!/usr/bin/env bash
# The GPU checks in one pass of a few minutes, on a machine with an NVIDIA GPU: builds for
# the card at hand, runs the GPU tests (GPU against CPU: log-likelihood, moments,
# posteriors, EM optima), the kernel tests, `moekit info`, a CLI fit on the GPU and the
# benchmark of docs/performance.md. Every step's output goes to $OUT/gpu-check.log (OUT
# defaults to ./gpu-check-out); the exit status is that of the first failed step.
#   scripts/gpu-check.sh
# On the lent GPU machines (no package registry): ../shared/tools/device-deps.sh packs the
# build dependencies into .devdeps/, and LBFGS++ needs adding to them
# (cd .devdeps && apt-get download liblbfgspp-dev); then carry .devdeps and run
#   bash .devdeps/unpack.sh && export CMAKE_PREFIX_PATH=/opt/devdeps/usr && scripts/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$PWD/gpu-check-out}
mkdir -p "$out"
log="$out/gpu-check.log"
: >"$log"
status=0
step() {
  local name=$1
  shift
  echo "== $name" | tee -a "$log"
  local t0=$SECONDS
  "$@" 2>&1 | tee -a "$log"
  local rc=${PIPESTATUS[0]}
  echo "== $name: exit $rc, $((SECONDS - t0)) s" | tee -a "$log"
  [ "$rc" -eq 0 ] || [ "$status" -ne 0 ] || status=$rc
}
step gpu nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
step configure cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DMOEKIT_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="${arch:-90}" -DMOEKIT_BUILD_TESTS=ON -DMOEKIT_BUILD_BENCH=ON \
  -DMOEKIT_INSTALL=OFF
step build cmake --build build-gpu -j"$(nproc)" --target moekit_cli test_gpu test_kernels \
  bench_gpu_gmm
step gpu-tests build-gpu/tests/gpu/test_gpu --success --reporter compact
step kernel-tests build-gpu/tests/kernels/test_kernels
step info build-gpu/apps/moekit/moekit info
step cli-fit build-gpu/apps/moekit/moekit fit datasets/faithful.csv -k 2 --restarts 5 --device cuda
step benchmark build-gpu/apps/bench/bench_gpu_gmm
exit "$status"
