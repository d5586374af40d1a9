# Peer timings for apps/bench/bench_regression.cpp: the same data (written by
#   MOEKIT_BENCH_CSV=/tmp/regression.csv ./bench_regression), the same K = 3 and 50 EM
# iterations from a random start, seconds per fit and per iteration. mixtools hmeEM fits
# two experts only, so it is timed at K = 2 (bench_regression's BM_SoftmaxMoE_K2). The
# binary column yb is BM_LogisticExperts's response (flexmix FLXMRglm(family = "binomial")).
# The BLAS R uses is printed first (sessionInfo()).
#   Rscript apps/bench/peers_regression.R /tmp/regression.csv
suppressMessages({library(flexmix); library(mixtools)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(if (length(args)) args[1] else "/tmp/regression.csv")
iters <- 50
time_it <- function(label, expr) {
  t <- system.time(fit <- expr)[["elapsed"]]
  ll <- tryCatch(as.numeric(logLik(fit)), error = function(e) fit$loglik)
  # The iterations run (flexmix stops early when the log-likelihood stops rising).
  it <- tryCatch(fit@iter, error = function(e) length(fit$all.loglik) - 1)
  cat(sprintf("%-45s %8.3f s  %3d iter  %8.4f s/iter  loglik %.4f\n", label, t, it, t / it, ll))
}
cat(sprintf("n = %d, R %s, flexmix %s, mixtools %s\n", nrow(d), getRversion(),
            packageVersion("flexmix"), packageVersion("mixtools")))
cat(sprintf("BLAS: %s\nLAPACK: %s\n", sessionInfo()$BLAS, sessionInfo()$LAPACK))
set.seed(1)
time_it("flexmix FLXMRglm(family = \"binomial\")",
        flexmix(cbind(yb, 1 - yb) ~ x1 + x2 + x3, data = d, k = 3,
                model = FLXMRglm(family = "binomial"),
                control = list(iter.max = iters, minprior = 0, tolerance = 0)))
set.seed(1)
time_it("flexmix FLXMRglm, constant gate",
        flexmix(y ~ x1 + x2 + x3, data = d, k = 3,
                control = list(iter.max = iters, minprior = 0, tolerance = 0)))
set.seed(1)
time_it("flexmix FLXMRglm + FLXPmultinom(~ x1 + x2 + x3)",
        flexmix(y ~ x1 + x2 + x3, data = d, k = 3, concomitant = FLXPmultinom(~ x1 + x2 + x3),
                control = list(iter.max = iters, minprior = 0, tolerance = 0)))
set.seed(1)
time_it("mixtools regmixEM",
        regmixEM(d$y, as.matrix(d[, c("x1", "x2", "x3")]), k = 3, maxit = iters, epsilon = 0))
set.seed(1)
time_it("mixtools hmeEM (K = 2, gate ~ x1 + x2 + x3)",
        hmeEM(d$y, as.matrix(d[, c("x1", "x2", "x3")]), k = 2, maxit = iters, epsilon = 0))
set.seed(1)
time_it("flexmix FLXMRglm + FLXPmultinom, K = 2",
        flexmix(y ~ x1 + x2 + x3, data = d, k = 2, concomitant = FLXPmultinom(~ x1 + x2 + x3),
                control = list(iter.max = iters, minprior = 0, tolerance = 0)))
