"""The library's errors arrive as Python exceptions with its messages."""

import numpy as np
import pytest

import moekit
from conftest import read_csv


def test_exception_hierarchy():
    assert issubclass(moekit.InputError, ValueError)
    assert issubclass(moekit.ModelFormatError, moekit.InputError)
    assert issubclass(moekit.NumericalError, RuntimeError)


def test_bad_options(faithful_X):
    with pytest.raises(ValueError, match="covariance"):
        moekit.GaussianMixture(2, covariance_type="banana").fit(faithful_X)
    with pytest.raises(ValueError, match="tol"):
        moekit.GaussianMixture(2, tol=-1).fit(faithful_X)
    with pytest.raises(ValueError, match="experts"):
        moekit.MixtureOfExperts("waiting ~ eruptions", experts="nope").fit(
            read_csv("faithful.csv"))


def test_bad_data(faithful):
    with pytest.raises(ValueError, match="nosuchcolumn"):
        moekit.MixtureOfExperts("waiting ~ nosuchcolumn").fit(faithful)
    X = faithful.to_numpy().copy()
    X[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"array:line 5, column 2 \('x2'\): missing value"):
        moekit.GaussianMixture(2).fit(X)
    with pytest.raises(ValueError, match="X has 3 columns"):
        gm = moekit.GaussianMixture(2).fit(faithful.to_numpy())
        gm.predict(np.ones((4, 3)))


def test_bad_model_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"format": "something else"}')
    with pytest.raises(moekit.ModelFormatError):
        moekit.load(path)


def test_deep_layer():
    records = moekit._core.deep_train("deepseek", True, 4, 2, 1)
    assert [r["epoch"] for r in records] == [1, 2]
    assert records[-1]["load"].shape == (4,)
    with pytest.raises(ValueError, match="routing"):
        moekit._core.deep_train("nope")


def test_not_fitted():
    with pytest.raises(RuntimeError, match="not fitted"):
        moekit.GaussianMixture(2).predict(np.ones((3, 2)))
