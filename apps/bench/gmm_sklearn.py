#!/usr/bin/python3
"""scikit-learn GaussianMixture on the CSV written by bench_gmm --write-csv: seconds per EM
iteration for the same n, d, K, covariance type, timed like bench_gmm (10 iterations from a
k-means start, tol=0 so every iteration runs). Run with Debian's /usr/bin/python3."""
import sys, time
import numpy as np
import sklearn
from sklearn.mixture import GaussianMixture

path = sys.argv[1]
threads = sys.argv[2] if len(sys.argv) > 2 else "all"
X = np.loadtxt(path, delimiter=",", skiprows=1)
gm = GaussianMixture(n_components=8, covariance_type="full", max_iter=10, tol=0.0, n_init=1,
                     init_params="kmeans", random_state=1)
t0 = time.perf_counter()
gm.fit(X)
total = time.perf_counter() - t0
# Time the initialisation alone to subtract it.
gi = GaussianMixture(n_components=8, covariance_type="full", max_iter=1, tol=0.0, n_init=1,
                     init_params="kmeans", random_state=1)
t1 = time.perf_counter()
gi.fit(X)
one = time.perf_counter() - t1
per_iter = (total - one) / (gm.n_iter_ - 1)
print(f"sklearn {sklearn.__version__} GaussianMixture(full, K=8) n={X.shape[0]} d={X.shape[1]} "
      f"threads={threads}: {per_iter:.4f} s per EM iteration (loglik/n {gm.score(X):.6f})")
