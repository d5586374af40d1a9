#!/usr/bin/python3
"""Reference Gaussian-mixture fits on Old Faithful (both columns, n = 272) from
scikit-learn GaussianMixture, and merge with the R results into values/faithful_gmm.json.

Usage: /usr/bin/python3 gmm_faithful_sklearn.py [DATA_DIR]
   DATA_DIR defaults to ../../../datasets
Must run with Debian's /usr/bin/python3 (python3-sklearn, python3-pandas).

Writes values/faithful_gmm_sklearn.json and values/faithful_gmm.json, the latter merging
values/faithful_gmm_R.json (gmm_faithful.R) and values/faithful_gmm_mixtools.json
(gmm_faithful_mvnormalmixEM.R) when those exist: run the R scripts first.

Three settings per (K, covariance_type):
  "tight":          n_init=10, random_state=1, tol=1e-10, max_iter=10000  (reg_covar=1e-6 default)
  "default":        n_init=10, random_state=1   (tol=1e-3, max_iter=100: what a user gets)
  "tight_regcovar0": as "tight" but reg_covar=0, i.e. the unregularised MLE
sklearn adds reg_covar (1e-6) to every covariance diagonal in each M-step, so even the
"tight" fit is not exactly the MLE; "tight_regcovar0" is the one to compare with mclust.
loglik = gm.score(X) * n; loglik_recomputed is computed here from the fitted parameters.
df = gm._n_parameters() (what gm.bic uses); bic_ours = -2 loglik + df log n (= gm.bic(X)).
"""
import json
import os
import sys

import numpy as np
import pandas as pd
import sklearn
from scipy.special import logsumexp
from sklearn.mixture import GaussianMixture

data_dir = sys.argv[1] if len(sys.argv) > 1 else "../../../datasets"
here = os.path.dirname(os.path.abspath(__file__))
vals = os.path.normpath(os.path.join(here, "..", "values"))
os.makedirs(vals, exist_ok=True)

X = pd.read_csv(os.path.join(data_dir, "faithful.csv"))[["eruptions", "waiting"]].to_numpy(float)
n, d = X.shape
assert (n, d) == (272, 2)


def full_covs(gm):
    K = gm.n_components
    t = gm.covariance_type
    if t == "full":
        return gm.covariances_
    if t == "tied":
        return np.repeat(gm.covariances_[None], K, axis=0)
    if t == "diag":
        return np.array([np.diag(c) for c in gm.covariances_])
    if t == "spherical":
        return np.array([c * np.eye(d) for c in gm.covariances_])
    raise ValueError(t)


def loglik_at(w, mu, S):
    L = np.empty((n, len(w)))
    for k in range(len(w)):
        R = np.linalg.cholesky(S[k])
        Z = np.linalg.solve(R, (X - mu[k]).T)
        L[:, k] = (np.log(w[k]) - 0.5 * (Z ** 2).sum(0) - np.log(np.diag(R)).sum()
                   - 0.5 * d * np.log(2 * np.pi))
    return float(logsumexp(L, axis=1).sum())


mclust_name = {"full": "VVV", "diag": "VVI", "spherical": "VII", "tied": "EEE"}
settings = {
    "tight": dict(n_init=10, random_state=1, tol=1e-10, max_iter=10000),
    "default": dict(n_init=10, random_state=1),
    "tight_regcovar0": dict(n_init=10, random_state=1, tol=1e-10, max_iter=10000, reg_covar=0.0),
}
py_version = sys.version.split()[0]
fits = {}
print(f"{'fit':40s} {'loglik':>22s} {'loglik_recomputed':>22s} {'df':>3s} {'bic_ours':>20s} conv iters")
for K in (2, 3):
    for T in ("full", "diag", "spherical", "tied"):
        for sname, kw in settings.items():
            gm = GaussianMixture(n_components=K, covariance_type=T, **kw).fit(X)
            ll = float(gm.score(X) * n)
            S = full_covs(gm)
            llr = loglik_at(gm.weights_, gm.means_, S)
            df = int(gm._n_parameters())
            bic = -2 * ll + df * np.log(n)
            key = f"sklearn_{T}_K{K}_{sname}"
            args = ", ".join(f"{a}={v!r}" for a, v in kw.items())
            fits[key] = dict(
                dataset="faithful.csv", n=n, K=K, package="scikit-learn",
                package_version=sklearn.__version__, numpy_version=np.__version__,
                python_version=py_version, python="/usr/bin/python3 (Debian 12)",
                model=f"Gaussian mixture, covariance_type={T} (mclust analogue {mclust_name[T]})",
                call=f"GaussianMixture(n_components={K}, covariance_type='{T}', {args}).fit(X)",
                seeds=[1], seed_note="random_state=1 (n_init=10 k-means initialisations drawn from it)",
                status="ok", loglik=ll, loglik_recomputed=llr, df=df,
                bic_sklearn=float(gm.bic(X)), bic_ours=float(bic),
                converged=bool(gm.converged_), n_iter=int(gm.n_iter_),
                lower_bound_mean=float(gm.lower_bound_),
                parameters=dict(proportions=gm.weights_.tolist(), means=gm.means_.tolist(),
                                covariances=S.tolist(), covariances_raw=gm.covariances_.tolist()),
                note="components in sklearn's order; 'covariances' expanded to full d x d matrices")
            print(f"{key:40s} {ll:22.15g} {llr:22.15g} {df:3d} {bic:20.12f} {gm.converged_!s:5s} {gm.n_iter_}")

out = dict(dataset="faithful.csv", description="Old Faithful, both columns, n = 272",
           versions=dict(python_version=py_version, sklearn=sklearn.__version__,
                         numpy=np.__version__, pandas=pd.__version__),
           generated_by="tests/reference/gen/gmm_faithful_sklearn.py", fits=fits)
with open(os.path.join(vals, "faithful_gmm_sklearn.json"), "w") as f:
    json.dump(out, f, indent=2)

# ---- merge everything into faithful_gmm.json -----------------------------------------
merged = dict(dataset="faithful.csv", description="Old Faithful, both columns (eruptions, waiting), n = 272; "
              "Gaussian mixtures K = 2, 3 from mclust, mixtools and scikit-learn",
              conventions="loglik: natural-log observed-data log-likelihood as reported by the package; "
              "loglik_recomputed: recomputed at the reported parameters by the generator; "
              "bic_ours = -2 loglik + df log n",
              sources={}, versions={}, fits={})
for fname, gen in (("faithful_gmm_R.json", "gmm_faithful.R"),
                   ("faithful_gmm_mixtools.json", "gmm_faithful_mvnormalmixEM.R"),
                   ("faithful_gmm_sklearn.json", "gmm_faithful_sklearn.py")):
    p = os.path.join(vals, fname)
    if not os.path.exists(p):
        print(f"warning: {p} missing (run tests/reference/gen/{gen}); not merged")
        continue
    with open(p) as f:
        part = json.load(f)
    merged["sources"][fname] = part["generated_by"]
    merged["versions"].update(part["versions"])
    merged["fits"].update(part["fits"])
with open(os.path.join(vals, "faithful_gmm.json"), "w") as f:
    json.dump(merged, f, indent=2)
print("wrote", os.path.join(vals, "faithful_gmm.json"), f"({len(merged['fits'])} fits)")
