#!/usr/bin/env bash
# Regenerates tests/fuzz/corpus/model/: one fitted model file per family, gate, covariance
# structure and tree shape, on the data sets whose columns fuzz_predict's table holds
# (faithful, tonedata, iris, NPreg). Compact JSON without the traces, so that each seed fits
# the model harnesses' input limit (-max_len=4096 in scripts/run-fuzz.sh).
#
#   tests/fuzz/make_model_corpus.sh [path/to/moekit]
set -euo pipefail
cd "$(dirname "$0")/../.."
M=${1:-build/apps/moekit/moekit}
D=datasets
out=tests/fuzz/corpus/model
rm -f "$out"/*.json
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
seed() {
  local name=$1
  shift
  "$M" fit "$@" --seed 1 -q --out "$tmp" >/dev/null
  python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
for k in ("loglik_trace", "restart_logliks", "warnings"):
    j["fit"].pop(k, None)
open(sys.argv[2], "w").write(json.dumps(j, separators=(",", ":")))' "$tmp" "$out/$name.json"
}
seed gmm $D/faithful.csv -k 2
seed gmm_diag $D/faithful.csv -k 3 --covariance diag
seed gmm_tied_spherical $D/faithful.csv -k 2 --covariance tied-spherical
seed linear $D/tonedata.csv --formula 'tuned ~ stretchratio' --experts linear -k 2
seed linear_tree_softmax $D/NPreg.csv --formula 'yn ~ x' --experts linear --gate softmax --tree 2,2
seed gaussian_gate $D/faithful.csv --formula 'eruptions ~ waiting' --experts linear --gate gaussian -k 2
seed factor $D/iris.csv --formula 'Sepal.Length ~ Species + Petal.Width' --experts linear -k 2
seed logistic $D/iris.csv --formula 'Species ~ Petal.Width' --experts logistic -k 2
seed grouped $D/NPreg.csv --formula 'yb ~ x | id2' --experts logistic -k 2
seed laplace $D/tonedata.csv --formula 'tuned ~ stretchratio' --experts laplace -k 2
seed t_softmax $D/tonedata.csv --formula 'tuned ~ stretchratio' --experts t --gate softmax -k 2
seed t_fixed_df $D/NPreg.csv --formula 'yn ~ x' --experts t --df 4 --covariance tied-full -k 2
wc -c "$out"/*.json
