#!/usr/bin/env bash
# How often each start strategy reaches the best maximum known to this run: 50 starts
# (seed 7) per strategy and data set (hc is deterministic: 1 start); a start "hits" when it
# ends within 1e-3 of the best log-likelihood that any strategy reached on that data set.
# Each cell: hits/starts, hits per second of the whole fit. The table in docs/starts.md.
# Usage: apps/bench/start_strategies.sh [path/to/moekit]
set -euo pipefail
cd "$(dirname "$0")/../.."
M=${1:-build/apps/moekit/moekit}
D=datasets
INITS="random partition kmeans++ lines segments hc short-em auto"
run() { # name args...
  local name=$1
  shift
  for init in $INITS; do
    local starts=50
    [ "$init" = hc ] && starts=1
    printf '%s\t%s\t' "$name" "$init"
    $M fit "$@" --init "$init" --restarts $starts --seed 7 --split-merge 0 --json -q | tr -d '\n'
    echo
  done
}
{
  run "faithful gaussian K=2" $D/faithful.csv --experts gaussian -k 2
  run "tonedata gaussian K=2" $D/tonedata.csv --experts gaussian -k 2
  run "iris gaussian K=3" $D/iris.csv --formula 'Sepal.Length + Sepal.Width + Petal.Length + Petal.Width ~ 1' --experts gaussian -k 3
  run "tonedata K=2" $D/tonedata.csv --formula 'tuned ~ stretchratio' --experts linear -k 2
  run "NOdata K=2 softmax" $D/NOdata.csv --formula 'Equivalence ~ NO' --experts linear --gate softmax -k 2
  run "CO2 K=3" $D/CO2data.csv --formula 'CO2 ~ GNP' --experts linear -k 3
  run "NPreg K=2" $D/NPreg.csv --formula 'yn ~ x + I(x^2)' --experts linear -k 2
  run "mcycle K=3" $D/mcycle.csv --formula 'accel ~ times' --experts linear -k 3
  run "mcycle K=3 softmax" $D/mcycle.csv --formula 'accel ~ times' --experts linear --gate softmax -k 3
  run "mcycle K=4" $D/mcycle.csv --formula 'accel ~ times' --experts linear -k 4
  run "mcycle K=4 softmax" $D/mcycle.csv --formula 'accel ~ times' --experts linear --gate softmax -k 4
  run "logitmix K=2" $D/logitmix.csv --formula 'y ~ x1 + x2' --experts logistic -k 2
} | /usr/bin/python3 -c '
import json, sys, collections
inits = "random partition kmeans++ lines segments hc short-em auto".split()
rows = collections.OrderedDict()
for line in sys.stdin:
    name, init, js = line.rstrip("\n").split("\t", 2)
    rows.setdefault(name, {})[init] = json.loads(js)
print("| data | best known here | " + " | ".join(inits) + " |")
print("|---|---|" + "---|" * len(inits))
for name, fits in rows.items():
    best = max(f["loglik"] for f in fits.values())
    cells = []
    for init in inits:
        f = fits[init]
        L = [x for x in f["restart_logliks"] if x is not None]
        hits = sum(1 for x in L if x > best - 1e-3)
        cells.append("%d/%d, %.3g/s" % (hits, len(L), hits / f["seconds"]))
    print("| %s | %.4f | %s |" % (name, best, " | ".join(cells)))
'
