#!/usr/bin/env bash
# Installs the Debian 12 packages moekit builds with, only those that are missing.
# A machine that has them all needs no root; otherwise apt-get runs as root (or via sudo).
# The Python module, its tests and the notebooks (MOEKIT_PYTHON) use Debian's /usr/bin/python3
# with pybind11, pytest, NumPy, pandas, matplotlib, scikit-learn and the Jupyter runner.
# `install-deps.sh fuzz` adds clang and its libFuzzer runtime (scripts/run-fuzz.sh).
set -euo pipefail
packages=(cmake make g++ libeigen3-dev libboost-math-dev libfmt-dev libcli11-dev catch2
          nlohmann-json3-dev libbenchmark-dev liblbfgspp-dev libopenmpi-dev openmpi-bin
          python3-dev python3-pybind11 python3-pytest python3-numpy python3-pandas
          python3-matplotlib python3-nbclient python3-nbformat python3-ipykernel python3-sklearn)
if [ "${1:-}" = fuzz ]; then
  packages+=(clang libclang-rt-14-dev)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "moekit: installing missing packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1; then
  sudo="sudo"
else
  echo "moekit: missing packages (${missing[*]}) and no root or sudo to install them" >&2
  exit 1
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
