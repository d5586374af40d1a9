#!/usr/bin/env python3
"""Executes notebooks with nbclient (python3 kernel); any cell that raises fails the run.

    PYTHONPATH=build/python /usr/bin/python3 notebooks/run_notebooks.py [--out DIR]
        [--figures DIR] [--in-place] notebooks/*.ipynb

Each notebook runs with its own folder as working directory. MOEKIT_FIGURES tells it where to
write its figures: --figures (docs/figures to refresh the gallery), else DIR/figures. The
executed copies go to --out (default build/notebooks); --in-place rewrites the notebooks
with their outputs (how the committed ones were made).
"""

import argparse
import os
import pathlib
import sys
import time

import nbformat
from nbclient import NotebookClient


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="+", type=pathlib.Path)
    ap.add_argument("--out", type=pathlib.Path, default=pathlib.Path("build/notebooks"))
    ap.add_argument("--figures", type=pathlib.Path)
    ap.add_argument("--in-place", action="store_true")
    ap.add_argument("--timeout", type=int, default=240, help="seconds per cell")
    a = ap.parse_args()
    figures = (a.figures or a.out / "figures").resolve()
    figures.mkdir(parents=True, exist_ok=True)
    a.out.mkdir(parents=True, exist_ok=True)
    os.environ["MOEKIT_FIGURES"] = str(figures)
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    failed = 0
    for path in a.notebooks:
        nb = nbformat.read(path, as_version=4)
        start = time.monotonic()
        client = NotebookClient(nb, timeout=a.timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.resolve().parent)}})
        try:
            client.execute()
            status = "ok"
        except Exception as e:  # CellExecutionError and kernel failures alike
            status = "FAILED"
            failed += 1
            print(f"{path}: {e}", file=sys.stderr)
        target = path if a.in_place and status == "ok" else a.out / path.name
        nbformat.write(nb, target)
        print(f"{path}: {status} in {time.monotonic() - start:.1f} s (executed copy: {target})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
