#!/usr/bin/env python3
"""Compares moekit's K x structure BIC table with Mclust(faithful)'s.

Usage: scripts/compare-mclust-table.py [MOEKIT_BINARY]
Runs `moekit select datasets/faithful.csv --covariance all -k 1:9 --json -q` (the defaults) and
compares each cell with tests/reference/values/mclust_table_faithful.json (mclust 6.0.0;
tests/reference/gen/mclust_table.R and mclust_table_polish.R): "bic_best_known" is the best
optimum known of each cell without a degenerate component (the rule of lib/src/fit/em.cpp,
each component's thinnest direction included), "bic_default" what Mclust() prints (EM stopped
at a relative change of 1e-5), "degenerate" the cells with no such optimum known. Prints
the cells where moekit is more than 1e-3 below or above the best known value, and both choices.
"""
import json
import os
import subprocess
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build/apps/moekit/moekit")
out = subprocess.run([binary, "select", os.path.join(root, "datasets/faithful.csv"),
                      "--covariance", "all", "-k", "1:9", "--json", "-q"],
                     check=True, capture_output=True, text=True).stdout
ours = json.loads(out)
ref = json.load(open(os.path.join(root, "tests/reference/values/mclust_table_faithful.json")))
table = ours["mclust_table"]
assert table["models"] == ref["models"] and table["K"] == ref["K"]
counts = {"reached": 0, "higher": 0, "lower": 0, "failed": 0, "degenerate": 0}
for i, K in enumerate(ref["K"]):
    for j, model in enumerate(ref["models"]):
        o, b = table["values"][i][j], ref["bic_best_known"][i][j]
        if ref["degenerate"][i][j]:
            counts["degenerate"] += 1
            continue
        if o is None:
            counts["failed"] += 1
            print(f"{model} K={K}: moekit failed")
            continue
        kind = "reached" if abs(o - b) <= 1e-3 else "higher" if o > b else "lower"
        counts[kind] += 1
        if kind != "reached":
            print(f"{model:3} K={K}: moekit {o:10.3f}  best known {b:10.3f}  "
                  f"Mclust prints {ref['bic_default'][i][j]:10.3f}  ({kind})")
print(counts)
print("moekit's choice:", ours["best_model"], ours["best_K"],
      "  mclust's:", ref["mclust_choice"]["model"], ref["mclust_choice"]["K"])
