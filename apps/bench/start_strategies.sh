#!/usr/bin/env bash
# How often each start strategy reaches the best maximum known to this run: 50 starts
# (seed 7) per strategy and data set; a start "hits" when it ends within 1e-3 of the best
# log-likelihood that any strategy reached on that data set. The table in docs/starts.md.
# Usage: apps/bench/start_strategies.sh [path/to/moekit]
set -euo pipefail
cd "$(dirname "$0")/../.."
M=${1:-build/apps/moekit/moekit}
D=datasets
run() { # name args...
  local name=$1
  shift
  for init in random kmeans++ lines auto; do
    printf '%s %s ' "$name" "$init"
    $M fit "$@" --init "$init" --restarts 50 --seed 7 --json -q
  done
}
{
  run "tonedata K=2" $D/tonedata.csv --formula 'tuned ~ stretchratio' --experts linear -k 2
  run "mcycle K=3" $D/mcycle.csv --formula 'accel ~ times' --experts linear -k 3
  run "mcycle K=4" $D/mcycle.csv --formula 'accel ~ times' --experts linear -k 4
  run "mcycle K=4 softmax" $D/mcycle.csv --formula 'accel ~ times' --experts linear --gate softmax -k 4
  run "NPreg K=2" $D/NPreg.csv --formula 'yn ~ x + I(x^2)' --experts linear -k 2
  run "CO2 K=3" $D/CO2data.csv --formula 'CO2 ~ GNP' --experts linear -k 3
  run "NOdata K=2 softmax" $D/NOdata.csv --formula 'Equivalence ~ NO' --experts linear --gate softmax -k 2
} | /usr/bin/python3 -c '
import json, sys, collections
rows = collections.OrderedDict()
for line in sys.stdin:
    head, js = line.split(" {", 1)
    name, init = head.rsplit(" ", 1)
    d = json.loads("{" + js)
    rows.setdefault(name, {})[init] = d
print("| data | best known here | random | kmeans++ | lines | auto (default) |")
print("|---|---|---|---|---|---|")
for name, fits in rows.items():
    best = max(f["loglik"] for f in fits.values())
    cells = []
    for init in ["random", "kmeans++", "lines", "auto"]:
        f = fits[init]
        L = [x for x in f["restart_logliks"] if x is not None]
        hits = sum(1 for x in L if x > best - 1e-3)
        cells.append("%d/%d (%.2f s)" % (hits, len(L), f["seconds"]))
    print("| %s | %.4f | %s |" % (name, best, " | ".join(cells)))
'
