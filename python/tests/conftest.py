"""Shared fixtures: the repository's data sets and the CLI built beside the module.

CTest sets PYTHONPATH to build/python and MOEKIT_CLI to the `moekit` executable; run by hand:
  PYTHONPATH=build/python MOEKIT_CLI=build/apps/moekit/moekit /usr/bin/python3 -m pytest python/tests
"""

import os
import pathlib

import numpy as np
import pandas as pd
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
DATASETS = REPO / "datasets"
REFERENCE = REPO / "tests" / "reference" / "values"


def read_csv(name):
    # float_precision="round_trip": the same doubles as the CLI's from_chars parser.
    return pd.read_csv(DATASETS / name, float_precision="round_trip")


@pytest.fixture(scope="session")
def faithful():
    return read_csv("faithful.csv")


@pytest.fixture(scope="session")
def faithful_X(faithful):
    return faithful.to_numpy(dtype=np.float64)


@pytest.fixture(scope="session")
def cli():
    path = os.environ.get("MOEKIT_CLI")
    if not path or not pathlib.Path(path).exists():
        pytest.skip("MOEKIT_CLI (the moekit executable) not given")
    return path
