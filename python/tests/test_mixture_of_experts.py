"""MixtureOfExperts: formulas on DataFrames, arrays, gates, trees, predictions, files."""

import json

import numpy as np
import pytest

import moekit
from conftest import REFERENCE, read_csv


@pytest.fixture(scope="module")
def tone():
    return read_csv("tonedata.csv")


@pytest.fixture(scope="module")
def tone_fit(tone):
    return moekit.MixtureOfExperts("tuned ~ stretchratio", experts="linear", gate="constant",
                                   n_components=2, n_init=10, random_state=1).fit(tone)


def test_tonedata_reaches_the_polished_maximum(tone_fit):
    # 141.1984 is the maximum mixtools' regmixEM reaches from 49 of 50 seeds
    # (tests/reference/values/tonedata.json, mixtools 2.0.0).
    ref = json.loads((REFERENCE / "tonedata.json").read_text())
    seeds = ref["fits"]["mixtools_regmixEM_seeds1to50"]["per_seed_loglik"]
    assert tone_fit.loglik_ >= min(seeds) - 1e-6
    assert tone_fit.converged_
    assert tone_fit.x_names_ == ["(Intercept)", "stretchratio"]


def test_shapes_of_predictions(tone, tone_fit):
    n = len(tone)
    assert tone_fit.predict(tone).shape == (n,)
    assert tone_fit.predict_proba(tone).shape == (n, 2)
    np.testing.assert_allclose(tone_fit.predict_proba(tone).sum(axis=1), 1.0, atol=1e-12)
    assert tone_fit.predict_gate(tone).shape == (n, 2)
    assert tone_fit.predict_expert_means(tone).shape == (n, 2)
    assert tone_fit.predict_class(tone).shape == (n,)
    lo, hi = tone_fit.predict_quantile(tone, 0.05), tone_fit.predict_quantile(tone, 0.95)
    assert np.all(lo < hi)
    med = tone_fit.predict_median(tone)
    assert np.all((lo < med) & (med < hi))
    # The gated mean is the gate-weighted expert means.
    np.testing.assert_allclose(
        tone_fit.predict(tone),
        (tone_fit.predict_gate(tone) * tone_fit.predict_expert_means(tone)).sum(axis=1),
        rtol=1e-12)
    # Predictions of the mean need no response column.
    assert tone_fit.predict(tone[["stretchratio"]]).shape == (n,)
    y, comp = tone_fit.sample(tone, random_state=2)
    assert y.shape == (n,) and comp.shape == (n,)
    assert tone_fit.score(tone) == pytest.approx(tone_fit.loglik_ / n, rel=1e-12)
    assert tone_fit.bic(tone) == pytest.approx(tone_fit.bic_, rel=1e-12)


def test_arrays_with_y(tone, tone_fit):
    X = tone[["stretchratio"]].to_numpy()
    y = tone["tuned"].to_numpy()
    m = moekit.MixtureOfExperts(experts="linear", gate="constant", n_components=2, n_init=10,
                                random_state=1).fit(X, y)
    assert m.loglik_ == pytest.approx(tone_fit.loglik_, abs=1e-9)
    assert m.predict(X).shape == (len(y),)
    assert m.predict_proba(X, y).shape == (len(y), 2)


def test_softmax_gate_and_tree():
    no = read_csv("NOdata.csv")
    m = moekit.MixtureOfExperts("Equivalence ~ NO", experts="linear", gate="softmax",
                                n_components=2, n_init=5, random_state=1).fit(no)
    g = m.predict_gate(no)
    assert g.shape == (len(no), 2)
    assert m.z_names_ == ["(Intercept)", "NO"]
    hme = moekit.MixtureOfExperts("Equivalence ~ NO", experts="linear", gate="softmax",
                                  tree=(2, 2), n_init=3, random_state=1).fit(no)
    assert hme.n_components_ == 4
    assert hme.predict_branch_proba(no).shape == (len(no), 2)
    assert hme.loglik_ >= m.loglik_ - 1e-6


def test_logistic_labels_and_factor_columns():
    co2 = read_csv("CO2data.csv")
    m = moekit.MixtureOfExperts("CO2 ~ GNP", experts="linear", gate="constant", n_components=2,
                                n_init=5, random_state=1).fit(co2)
    assert m.predict(co2).shape == (len(co2),)
    iris = read_csv("iris.csv")
    label = [c for c in iris.columns if iris[c].dtype == object][0]
    numeric = [c for c in iris.columns if c != label][:2]
    clf = moekit.MixtureOfExperts(f"{label} ~ {numeric[0]} + {numeric[1]}", experts="logistic",
                                  gate="constant", n_components=2, random_state=1).fit(iris)
    assert set(clf.predict(iris)) <= set(clf.classes_)
    assert clf.predict_class_proba(iris).shape == (len(iris), len(clf.classes_))


def test_save_load_round_trip(tmp_path, tone, tone_fit):
    path = tmp_path / "tone.json"
    tone_fit.save(path)
    back = moekit.load(path)
    assert isinstance(back, moekit.MixtureOfExperts)
    assert back.formula == "tuned ~ stretchratio"
    np.testing.assert_array_equal(back.predict(tone), tone_fit.predict(tone))
    assert back.natural_parameters_ == tone_fit.natural_parameters_
