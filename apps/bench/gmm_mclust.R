# mclust's complete fit against moekit's (issue 19): Mclust(X, G = 8, modelNames = "VVV"),
# mclust's defaults (hierarchical-clustering start on a 2000-row subset, EM to its tolerance),
# on the CSV written by `bench_gmm --write-csv PATH --n N`. Prints the wall-clock seconds,
# the log-likelihood, BIC and the iterations; run it beside
#   /usr/bin/time -f %e moekit fit data.csv -k 8 --covariance full
# Usage: Rscript apps/bench/gmm_mclust.R data.csv [runs]
suppressMessages(library(mclust))
args <- commandArgs(trailingOnly = TRUE)
X <- as.matrix(read.csv(args[1]))
runs <- if (length(args) > 1) as.integer(args[2]) else 1
times <- numeric(runs)
for (r in seq_len(runs)) {
  set.seed(r)  # mclust draws its hc subset at random
  t0 <- proc.time()[["elapsed"]]
  fit <- Mclust(X, G = 8, modelNames = "VVV", verbose = FALSE)
  times[r] <- proc.time()[["elapsed"]] - t0
  cat(sprintf("mclust %s Mclust(G = 8, VVV) n=%d d=%d run %d: %.2f s, loglik %.4f, BIC %.4f\n",
              packageVersion("mclust"), nrow(X), ncol(X), r, times[r], fit$loglik, fit$bic))
}
cat(sprintf("BLAS: %s\n", extSoftVersion()[["BLAS"]]))
