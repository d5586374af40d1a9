"""GaussianMixture: the CLI's fit reproduced, scikit-learn's shapes and meanings, files."""

import json
import math
import subprocess

import numpy as np
import pytest

import moekit
from conftest import DATASETS, REFERENCE


def cli_fit(cli, *args):
    out = subprocess.run([cli, "fit", str(DATASETS / "faithful.csv"), "--json", "-q", *args],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def test_faithful_k2_full_equals_cli(cli, faithful_X):
    ref = cli_fit(cli, "-k", "2", "--covariance", "full", "--restarts", "10", "--seed", "1")
    gm = moekit.GaussianMixture(2, covariance_type="full", n_init=10, random_state=1)
    gm.fit(faithful_X)
    assert gm.loglik_ == pytest.approx(ref["loglik"], abs=1e-9)
    assert gm.bic_ == pytest.approx(ref["bic"], abs=1e-9)
    assert gm.n_iter_ == ref["iterations"]
    comps = ref["parameters"]["experts"]["components"]
    for k, c in enumerate(comps):
        np.testing.assert_allclose(gm.means_[k], c["mean"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(gm.covariances_[k], c["covariance"], rtol=0, atol=1e-9)
    weights = ref["parameters"]["gates"][0]["parameters"]["weights"]
    np.testing.assert_allclose(gm.weights_, weights, rtol=0, atol=1e-9)
    # And mclust's maximum (tests/reference/values/faithful_gmm_R.json, Mclust VVV G = 2).
    mclust = json.loads((REFERENCE / "faithful_gmm_R.json").read_text())
    assert gm.loglik_ == pytest.approx(mclust["fits"]["mclust_VVV_K2"]["loglik"], abs=1e-3)


def test_dataframe_and_array_agree(faithful, faithful_X):
    a = moekit.GaussianMixture(2, random_state=1).fit(faithful_X)
    b = moekit.GaussianMixture(2, random_state=1).fit(faithful)
    assert a.loglik_ == b.loglik_
    assert list(b.feature_names_in_) == ["eruptions", "waiting"]
    assert list(a.feature_names_in_) == ["x1", "x2"]
    np.testing.assert_array_equal(a.predict_proba(faithful_X), b.predict_proba(faithful))


def test_criteria_and_scores(faithful_X):
    gm = moekit.GaussianMixture(2, random_state=1).fit(faithful_X)
    n = faithful_X.shape[0]
    p = 2 * 2 + 2 * 3 + 1
    assert gm.n_params_ == p
    ll = gm.score_samples(faithful_X)
    assert ll.shape == (n,)
    assert ll.sum() == pytest.approx(gm.loglik_, rel=1e-12)
    assert gm.score(faithful_X) == pytest.approx(gm.loglik_ / n, rel=1e-12)
    assert gm.lower_bound_ == pytest.approx(gm.loglik_ / n, rel=1e-12)
    assert gm.bic(faithful_X) == pytest.approx(-2 * gm.loglik_ + p * math.log(n), rel=1e-12)
    assert gm.bic(faithful_X) == pytest.approx(gm.bic_, rel=1e-12)
    assert gm.aic(faithful_X) == pytest.approx(-2 * gm.loglik_ + 2 * p, rel=1e-12)
    assert gm.icl(faithful_X) >= gm.bic(faithful_X)
    assert gm.converged_ and gm.n_iter_ > 0


def test_covariance_shapes(faithful_X):
    shapes = {"full": (2, 2, 2), "tied": (2, 2), "diag": (2, 2), "spherical": (2,)}
    for kind, shape in shapes.items():
        gm = moekit.GaussianMixture(2, covariance_type=kind, random_state=1).fit(faithful_X)
        assert gm.covariances_.shape == shape, kind
        assert gm.full_covariances_.shape == (2, 2, 2)


def test_side_by_side_with_sklearn(faithful_X):
    mixture = pytest.importorskip("sklearn.mixture")
    # Both run to a tight tolerance, so that they stop at the same maximum; scikit-learn without
    # its ridge (reg_covar adds 1e-6 to every variance, which moves the maximum by about 1e-5
    # relative here), as moekit's variance floor does not bind at this maximum.
    ours = moekit.GaussianMixture(2, covariance_type="full", n_init=10, random_state=1, tol=1e-12)
    ours.fit(faithful_X)
    theirs = mixture.GaussianMixture(2, covariance_type="full", n_init=10, random_state=1,
                                     tol=1e-10, max_iter=10000, reg_covar=0.0).fit(faithful_X)
    for name in ("weights_", "means_", "covariances_"):
        assert getattr(ours, name).shape == getattr(theirs, name).shape, name
    # Same maximum: match the components by their means, then compare.
    order = np.argsort(ours.means_[:, 0])
    theirs_order = np.argsort(theirs.means_[:, 0])
    np.testing.assert_allclose(ours.means_[order], theirs.means_[theirs_order], rtol=1e-5)
    np.testing.assert_allclose(ours.weights_[order], theirs.weights_[theirs_order], rtol=1e-5)
    np.testing.assert_allclose(ours.covariances_[order], theirs.covariances_[theirs_order],
                               rtol=1e-4)
    # score / score_samples: the same mean and per-row log-likelihoods; bic and aic the same
    # convention (lower is better, -2 loglik + penalty).
    assert ours.score(faithful_X) == pytest.approx(theirs.score(faithful_X), rel=1e-7)
    np.testing.assert_allclose(ours.score_samples(faithful_X), theirs.score_samples(faithful_X),
                               rtol=1e-6)
    assert ours.bic(faithful_X) == pytest.approx(theirs.bic(faithful_X), rel=1e-7)
    assert ours.aic(faithful_X) == pytest.approx(theirs.aic(faithful_X), rel=1e-7)
    # predict / predict_proba: labels in 0..K-1 and rows of probabilities.
    p_ours = ours.predict_proba(faithful_X)
    p_theirs = theirs.predict_proba(faithful_X)
    assert p_ours.shape == p_theirs.shape
    np.testing.assert_allclose(p_ours[:, order], p_theirs[:, theirs_order], atol=1e-5)
    remap = np.empty(2, dtype=int)
    remap[order] = theirs_order
    np.testing.assert_array_equal(remap[ours.predict(faithful_X)], theirs.predict(faithful_X))
    # sample: arrays of the same shapes.
    X_ours, y_ours = ours.sample(50)
    X_theirs, y_theirs = theirs.sample(50)
    assert X_ours.shape == X_theirs.shape and y_ours.shape == y_theirs.shape
    # The parameter protocol scikit-learn's tools use.
    assert ours.get_params()["n_components"] == 2
    assert ours.set_params(n_init=3).n_init == 3


def test_sample_follows_the_fit(faithful_X):
    gm = moekit.GaussianMixture(2, random_state=1).fit(faithful_X)
    X, labels = gm.sample(20000, random_state=7)
    assert X.shape == (20000, 2) and set(np.unique(labels)) <= {0, 1}
    np.testing.assert_allclose(np.bincount(labels) / 20000, gm.weights_, atol=0.02)
    for k in range(2):
        np.testing.assert_allclose(X[labels == k].mean(axis=0), gm.means_[k], rtol=0.02)
    # Reproducible for a seed.
    np.testing.assert_array_equal(gm.sample(10, random_state=3)[0], gm.sample(10, random_state=3)[0])


def test_save_load_round_trip(tmp_path, cli, faithful, faithful_X):
    gm = moekit.GaussianMixture(2, random_state=1, n_init=3).fit(faithful_X)
    path = tmp_path / "faithful.json"
    gm.save(path)
    back = moekit.GaussianMixture.load(path)
    again = moekit.load(path)
    assert isinstance(again, moekit.GaussianMixture)
    for est in (back, again):
        np.testing.assert_array_equal(est.means_, gm.means_)
        np.testing.assert_array_equal(est.covariances_, gm.covariances_)
        np.testing.assert_array_equal(est.weights_, gm.weights_)
        assert est.loglik_ == gm.loglik_ and est.bic_ == gm.bic_
        np.testing.assert_array_equal(est.predict_proba(faithful_X), gm.predict_proba(faithful_X))
    # Fitted on a DataFrame, loaded back, it reads arrays under the DataFrame's names.
    named = moekit.GaussianMixture(2, random_state=1).fit(faithful)
    named.save(tmp_path / "named.json")
    named_back = moekit.load(tmp_path / "named.json")
    assert list(named_back.feature_names_in_) == ["eruptions", "waiting"]
    np.testing.assert_array_equal(named_back.predict(faithful_X), named.predict(faithful))
    # The CLI reads the file the module wrote.
    out = subprocess.run([cli, "summary", str(path), "--json"], check=True, capture_output=True,
                         text=True).stdout
    assert json.loads(out)["loglik"] == pytest.approx(gm.loglik_, abs=0)
    assert "loglik" in gm.summary()
    # And the module reads the CLI's file.
    cli_path = tmp_path / "cli.json"
    subprocess.run([cli, "fit", str(DATASETS / "faithful.csv"), "-k", "2", "-q", "--seed", "1",
                    "--out", str(cli_path)], check=True, capture_output=True)
    from_cli = moekit.load(cli_path)
    assert from_cli.loglik_ == pytest.approx(
        moekit.GaussianMixture(2, random_state=1).fit(faithful_X).loglik_, abs=1e-9)
