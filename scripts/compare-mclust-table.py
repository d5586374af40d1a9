#!/usr/bin/env python3
"""Compares moekit's K x structure BIC table with Mclust(faithful)'s.

Usage: scripts/compare-mclust-table.py [MOEKIT_BINARY]
Runs `moekit select datasets/faithful.csv --covariance all -k 1:9 --restarts 10 --json -q` and
compares each cell with tests/reference/values/mclust_table_faithful.json (mclust 6.0.0;
tests/reference/gen/mclust_table.R): "bic_tight" is mclust's converged value from its own
hierarchical start, "bic_default" what Mclust() prints (EM stopped at a relative change of
1e-5), "bic_best" the best optimum known (mclust's start or 20 k-means starts). Prints the cells
where moekit differs from bic_tight by more than 1e-3 and both choices.
"""
import json
import os
import subprocess
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build/apps/moekit/moekit")
out = subprocess.run([binary, "select", os.path.join(root, "datasets/faithful.csv"),
                      "--covariance", "all", "-k", "1:9", "--restarts", "10", "--json", "-q"],
                     check=True, capture_output=True, text=True).stdout
ours = json.loads(out)
ref = json.load(open(os.path.join(root, "tests/reference/values/mclust_table_faithful.json")))
table = ours["mclust_table"]
assert table["models"] == ref["models"] and table["K"] == ref["K"]
counts = {"same": 0, "higher": 0, "lower": 0, "failed": 0}
for i, K in enumerate(ref["K"]):
    for j, model in enumerate(ref["models"]):
        o, t = table["values"][i][j], ref["bic_tight"][i][j]
        d, b = ref["bic_default"][i][j], ref["bic_best"][i][j]
        if t is None:
            continue  # mclust's NA cell
        if o is None:
            counts["failed"] += 1
            print(f"{model} K={K}: moekit failed")
            continue
        kind = "same" if abs(o - t) <= 1e-3 else "higher" if o > t else "lower"
        counts[kind] += 1
        if kind != "same":
            print(f"{model:3} K={K}: moekit {o:10.3f}  mclust converged {t:10.3f}  "
                  f"printed {d:10.3f}  best known {b:10.3f}  ({kind})")
print(counts)
print("moekit's choice:", ours["best_model"], ours["best_K"],
      "  mclust's:", ref["mclust_choice"]["model"], ref["mclust_choice"]["K"])
