#!/usr/bin/python3
"""scikit-learn GaussianMixture on the CSV written by bench_gmm --write-csv: seconds per EM
iteration for the same n, d, K and covariance type, timed like bench_gmm --per-iter: the
wall-clock difference of an 11-iteration and a 1-iteration fit from the same k-means start
(tol=0, so every iteration runs), over 10. Then numpy's DGEMM rate (the system BLAS) at
2000 x 2000. Run with Debian's /usr/bin/python3.
Usage: gmm_sklearn.py data.csv [threads-label] [full|diag|spherical]"""
import sys, time, warnings
import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

path = sys.argv[1]
threads = sys.argv[2] if len(sys.argv) > 2 else "all"
covariance = sys.argv[3] if len(sys.argv) > 3 else "full"
X = np.loadtxt(path, delimiter=",", skiprows=1)
warnings.simplefilter("ignore", ConvergenceWarning)


def fit_seconds(iterations):
    gm = GaussianMixture(n_components=8, covariance_type=covariance, max_iter=iterations,
                         tol=0.0, n_init=1, init_params="kmeans", random_state=1)
    t0 = time.perf_counter()
    gm.fit(X)
    return time.perf_counter() - t0, gm


one, _ = fit_seconds(1)
eleven, gm = fit_seconds(11)
per_iter = (eleven - one) / 10
n, d = X.shape
flops = 4.0 * n * 8 * d * d
print(f"sklearn {sklearn.__version__} GaussianMixture({covariance}, K=8) n={n} d={d} "
      f"threads={threads}: {per_iter:.4f} s per EM iteration ({flops / per_iter * 1e-9:.2f} "
      f"GFLOP/s of 4nKd^2; loglik/n after 11 {gm.score(X):.10f})")
a, b = np.random.rand(2000, 2000), np.random.rand(2000, 2000)
best = min(
    (lambda t0: (np.dot(a, b), time.perf_counter() - t0)[1])(time.perf_counter())
    for _ in range(3))
print(f"numpy {np.__version__} DGEMM 2000^3, threads={threads}: {2 * 2000 ** 3 / best * 1e-9:.1f} "
      f"GFLOP/s")
