#!/usr/bin/env Rscript
# Reference standard errors from the observed information, for moekit's --se
#   NOdata  Equivalence ~ NO, 2 linear experts, constant proportions   -> values/se_NOdata.json
#   faithful  Gaussian mixture, K = 2, VVV (mclust start)                 -> values/se_faithful.json
#
# Usage: Rscript standard_errors.R [DATA_DIR] [OUT_DIR]
#   DATA_DIR defaults to <this script's dir>/../../../datasets; OUT_DIR to <dir>/../values
#
# Method: mixtools regmixEM (seed 1), then polished to the exact local maximum (BFGS with the
# analytic gradient, then Newton steps; as regmix.R's "polished"), then
# H = optimHess(theta, f, g) of f = -loglik in the unconstrained parametrisation
# theta = (B (p x K, column-major), log sigma_k, log(lambda_k / lambda_1), k >= 2).
# Covariance of theta = solve(H); the coefficients B are natural parameters, so their SEs
# are sqrt(diag(solve(H))) directly; sigma, sigma^2 and lambda go through the delta method
# (d sigma / d log sigma = sigma; d sigma^2 / d log sigma = 2 sigma^2; lambda = softmax).

suppressPackageStartupMessages({ library(mixtools); library(mclust); library(jsonlite) })

args <- commandArgs(trailingOnly = TRUE)
script_dir <- local({
  a <- commandArgs(FALSE); f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f)) dirname(normalizePath(f)) else getwd()
})
data_dir <- if (length(args) >= 1 && nzchar(args[1])) args[1] else file.path(script_dir, "..", "..", "..", "datasets")
out_dir <- if (length(args) >= 2) args[2] else file.path(script_dir, "..", "values")
versions <- list(R_version = R.version.string, mixtools = as.character(packageVersion("mixtools")),
                 mclust = as.character(packageVersion("mclust")),
                 jsonlite = as.character(packageVersion("jsonlite")))

lse <- function(L) { m <- apply(L, 1, max); m + log(rowSums(exp(L - m))) }
# Mixture of K Gaussian linear regressions with constant proportions.
unpack <- function(th, p, K) {
  B <- matrix(th[1:(p * K)], p, K)
  s <- exp(th[p * K + 1:K])
  eta <- c(0, th[p * K + K + seq_len(K - 1)])
  list(B = B, s = s, lambda = exp(eta - max(eta)) / sum(exp(eta - max(eta))))
}
pack <- function(B, s, lambda) c(B, log(s), log(lambda[-1] / lambda[1]))
loglik <- function(th, X, y, K) {
  P <- unpack(th, ncol(X), K); mu <- X %*% P$B
  L <- sapply(1:K, function(k) log(P$lambda[k]) + dnorm(y, mu[, k], P$s[k], log = TRUE))
  sum(lse(matrix(L, length(y), K)))
}
score <- function(th, X, y, K) {
  P <- unpack(th, ncol(X), K); mu <- X %*% P$B
  L <- matrix(sapply(1:K, function(k) log(P$lambda[k]) + dnorm(y, mu[, k], P$s[k], log = TRUE)),
              length(y), K)
  r <- exp(L - lse(L))
  gB <- sapply(1:K, function(k) crossprod(X, r[, k] * (y - mu[, k]) / P$s[k]^2))
  gs <- sapply(1:K, function(k) sum(r[, k] * ((y - mu[, k])^2 / P$s[k]^2 - 1)))
  N <- colSums(r)
  c(gB, gs, (N - sum(N) * P$lambda)[-1])
}

no <- read.csv(file.path(data_dir, "NOdata.csv"))
X <- cbind("(Intercept)" = 1, NO = no$NO); y <- no$Equivalence; K <- 2; p <- 2
set.seed(1)
em <- regmixEM(y = y, x = no$NO, k = K, epsilon = 1e-12, maxit = 10000)
th <- pack(em$beta, em$sigma, em$lambda)
f <- function(t) { v <- -loglik(t, X, y, K); if (is.finite(v)) v else 1e300 }
g <- function(t) -score(t, X, y, K)
o <- optim(th, f, g, method = "BFGS", control = list(maxit = 5000, reltol = 1e-16))
th <- o$par
for (it in 1:5) {
  H <- optimHess(th, f, g); step <- solve(H, g(th))
  if (f(th - step) <= f(th)) th <- th - step else break
}
H <- optimHess(th, f, g)
V <- solve(H)
P <- unpack(th, p, K)
se_theta <- sqrt(diag(V))
se_B <- matrix(se_theta[1:(p * K)], p, K)
Js <- diag(P$s, K)                       # d sigma_k / d log sigma_k
se_sigma <- sqrt(diag(Js %*% V[p * K + 1:K, p * K + 1:K] %*% Js))
Jv <- diag(2 * P$s^2, K)                 # d sigma_k^2 / d log sigma_k
se_var <- sqrt(diag(Jv %*% V[p * K + 1:K, p * K + 1:K] %*% Jv))
# lambda = softmax(0, eta_2): d lambda_k / d eta_2 = lambda_k (1[k = 2] - lambda_2)
Jl <- matrix(P$lambda * (c(0, 1) - P$lambda[2]), K, 1)
se_lambda <- sqrt(diag(Jl %*% V[p * K + K + 1, p * K + K + 1, drop = FALSE] %*% t(Jl)))

comp <- lapply(1:K, function(k) list(
  coefficients = setNames(as.list(P$B[, k]), colnames(X)),
  coefficient_se = setNames(as.list(se_B[, k]), colnames(X)),
  sigma = P$s[k], sigma_se = se_sigma[k], variance = P$s[k]^2, variance_se = se_var[k],
  lambda = P$lambda[k], lambda_se = se_lambda[k]))
out <- list(
  dataset = "NOdata.csv",
  description = "Observed-information standard errors, NOdata Equivalence ~ NO, 2 linear experts, constant proportions",
  versions = versions, generated_by = "tests/reference/gen/standard_errors.R",
  conventions = paste("SEs = sqrt(diag(solve(optimHess(theta, f, g)))) at the polished maximum,",
                      "f = -loglik, theta = (B, log sigma, log(lambda_k / lambda_1));",
                      "sigma, variance and lambda SEs by the delta method"),
  fits = list(regmixEM_Equivalence_on_NO = list(
    n = length(y), K = K, package = "mixtools", package_version = versions$mixtools,
    call = "set.seed(1); regmixEM(y=Equivalence, x=NO, k=2, epsilon=1e-12, maxit=10000); then BFGS + Newton polish; optimHess(theta, f, g)",
    loglik_regmixEM = em$loglik, loglik = -f(th), max_abs_grad = max(abs(g(th))),
    hessian_eigen_range = range(eigen(H, symmetric = TRUE, only.values = TRUE)$values),
    components = comp)))
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
path <- file.path(out_dir, "se_NOdata.json")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), path)
cat("wrote", normalizePath(path), "\n")
print(comp)

## ---- faithful: K = 2 full-covariance Gaussian mixture; SEs of the means -----------------
# theta = (mu_1, mu_2 (2 each), per component log L11, L21, log L22 (Cholesky of Sigma_k),
# log(lambda_2 / lambda_1)); the means are natural parameters, so their SEs are
# sqrt(diag(solve(H))) directly. Hessian by optimHess with numerical gradient of the loglik.
fa <- as.matrix(read.csv(file.path(data_dir, "faithful.csv")))
gmm_unpack <- function(th) {
  mu <- matrix(th[1:4], 2, 2)
  S <- lapply(1:2, function(k) { a <- th[4 + 3 * (k - 1) + 1:3]
    L <- matrix(c(exp(a[1]), a[2], 0, exp(a[3])), 2, 2); L %*% t(L) })
  eta <- c(0, th[11]); list(mu = mu, S = S, lambda = exp(eta) / sum(exp(eta)))
}
gmm_ll <- function(th) {
  P <- gmm_unpack(th)
  L <- sapply(1:2, function(k) {
    R <- chol(P$S[[k]]); z <- backsolve(R, t(fa) - P$mu[, k], transpose = TRUE)
    log(P$lambda[k]) - log(2 * pi) - sum(log(diag(R))) - colSums(z^2) / 2 })
  sum(lse(L))
}
mc <- Mclust(fa, G = 2, modelNames = "VVV", verbose = FALSE)
th0 <- c(mc$parameters$mean, unlist(lapply(1:2, function(k) {
  L <- t(chol(mc$parameters$variance$sigma[, , k])); c(log(L[1, 1]), L[2, 1], log(L[2, 2])) })),
  log(mc$parameters$pro[2] / mc$parameters$pro[1]))
fg <- function(t) { v <- -gmm_ll(t); if (is.finite(v)) v else 1e300 }
o2 <- optim(th0, fg, method = "BFGS", control = list(maxit = 5000, reltol = 1e-16))
H2 <- optimHess(o2$par, fg)
se2 <- sqrt(diag(solve(H2)))
P2 <- gmm_unpack(o2$par)
out2 <- list(
  dataset = "faithful.csv",
  description = "Observed-information SEs of the means, faithful, Gaussian mixture K = 2, full covariances",
  versions = versions, generated_by = "tests/reference/gen/standard_errors.R",
  conventions = paste("SEs = sqrt(diag(solve(optimHess(theta, f)))) (numerical gradient) at the",
                      "BFGS-polished maximum, f = -loglik, theta = (means, log-Cholesky, log(lambda_2 / lambda_1))"),
  fits = list(Mclust_VVV_G2 = list(
    n = nrow(fa), K = 2, package = "mclust", package_version = versions$mclust,
    call = "Mclust(faithful, G=2, modelNames='VVV'); then optim BFGS (reltol 1e-16); optimHess(theta, f)",
    loglik_mclust = mc$loglik, loglik = -fg(o2$par),
    components = lapply(1:2, function(k) list(
      mean = setNames(as.list(P2$mu[, k]), colnames(fa)),
      mean_se = setNames(as.list(se2[2 * (k - 1) + 1:2]), colnames(fa)),
      lambda = P2$lambda[k])))))
path2 <- file.path(out_dir, "se_faithful.json")
writeLines(toJSON(out2, auto_unbox = TRUE, digits = NA, pretty = TRUE), path2)
cat("wrote", normalizePath(path2), "\n")
str(out2$fits$Mclust_VVV_G2$components)
