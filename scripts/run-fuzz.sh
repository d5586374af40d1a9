#!/usr/bin/env bash
# The fuzz step (issue 24): builds the libFuzzer harnesses of tests/fuzz with clang, ASan and
# UBSan in build-fuzz (only those targets and the library sources they link), replays every
# input in tests/fuzz/regressions/<name>/ (the crashes and hangs found so far), then fuzzes
# the harnesses side by side for SECONDS each from the seed corpus tests/fuzz/corpus/<name>/
# (plus datasets/ for the CSV reader). Exits non-zero on a crash, a leak, a sanitizer report,
# a timeout or running out of memory, and prints the input that did it (in build-fuzz/artifacts).
#
#   scripts/run-fuzz.sh                 # CI: 30 s per harness, the four side by side
#   scripts/run-fuzz.sh 1800 csv        # a longer run of one harness (docs/reliability.md)
#   scripts/run-fuzz.sh 600 model predict  # the model loader and prediction only
#
# Figures (executions, coverage, corpus) go to stdout and build-fuzz/fuzz-<name>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(csv formula model predict)

scripts/install-deps.sh fuzz
cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DMOEKIT_FUZZ=ON -DMOEKIT_BUILD_TESTS=OFF \
  -DMOEKIT_BUILD_APPS=OFF -DMOEKIT_BUILD_BENCH=OFF -DMOEKIT_INSTALL=OFF -DMOEKIT_CUDA=OFF \
  -DMOEKIT_WERROR=ON >/dev/null
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]}"

export ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
bin=build-fuzz/tests/fuzz
# Each input at most 10 s (a hang is a bug) and 2 GiB; the regression inputs are large on
# purpose (20,000 columns, a 1 MB cell): 60 s each.
limits=(-timeout=10 -rss_limit_mb=2048)
replay_limits=(-timeout=60 -rss_limit_mb=2048)

for h in "${harnesses[@]}"; do
  shopt -s nullglob
  inputs=(tests/fuzz/regressions/"$h"/*)
  shopt -u nullglob
  if [ ${#inputs[@]} -gt 0 ]; then
    echo "fuzz_$h: replaying ${#inputs[@]} regression inputs"
    "$bin/fuzz_$h" "${replay_limits[@]}" "${inputs[@]}" >"build-fuzz/replay-$h.log" 2>&1 || {
      tail -40 "build-fuzz/replay-$h.log"
      echo "fuzz_$h: a regression input fails again" >&2
      exit 1
    }
  fi
done

mkdir -p build-fuzz/artifacts
pids=()
for h in "${harnesses[@]}"; do
  mkdir -p "build-fuzz/corpus/$h"  # new inputs go here, not into the repository
  seeds=("tests/fuzz/corpus/$h")
  extra=(-max_len=2048)
  [ "$h" = csv ] && seeds+=(datasets)
  # Model files are fitted models (up to 1.7 KB) that mutations grow; the dictionary holds
  # the format's keys and values, so that mutations reach past the JSON syntax.
  if [ "$h" = model ] || [ "$h" = predict ]; then
    seeds=(tests/fuzz/corpus/model)
    extra=(-max_len=4096 -dict=tests/fuzz/model.dict)
  fi
  "$bin/fuzz_$h" "${limits[@]}" "${extra[@]}" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="build-fuzz/artifacts/$h-" "build-fuzz/corpus/$h" "${seeds[@]}" \
    >"build-fuzz/fuzz-$h.log" 2>&1 &
  pids+=($!)
done
status=0
for i in "${!harnesses[@]}"; do
  h=${harnesses[$i]}
  if wait "${pids[$i]}"; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "build-fuzz/fuzz-$h.log")
    cov=$(grep -o 'cov: [0-9]*' "build-fuzz/fuzz-$h.log" | tail -1)
    ft=$(grep -o 'ft: [0-9]*' "build-fuzz/fuzz-$h.log" | tail -1)
    corpus=$(find "build-fuzz/corpus/$h" -type f | wc -l)
    echo "fuzz_$h: ${runs:-0} executions in ${seconds} s, ${cov:-cov: ?} edges, ${ft:-ft: ?} features, corpus $corpus, no crash"
  else
    status=1
    tail -60 "build-fuzz/fuzz-$h.log"
    echo "fuzz_$h: FAILED; the input is in build-fuzz/artifacts/$h-*: copy it to" \
      "tests/fuzz/regressions/$h/ with the fix" >&2
  fi
done
exit $status
