#!/usr/bin/env Rscript
# Reference standard errors of a softmax gate's coefficients, for moekit's --se:
#   NOdata  Equivalence ~ NO, 2 linear experts, softmax gate ~ NO   -> values/se_NOdata_softmax.json
#
# Usage: Rscript standard_errors_softmax.R [DATA_DIR] [OUT_DIR]
#   DATA_DIR defaults to <this script's dir>/../../../datasets; OUT_DIR to <dir>/../values
#
# Method: mixtools hmeEM started as in regmix.R (set.seed(100); regmixEM; hmeEM with its
# lines), its gate started from a logistic regression of hmeEM's posteriors on NO, then
# polished to the exact local maximum (BFGS with the analytic gradient, then Newton steps),
# then H = optimHess(theta, f, g) of f = -loglik in
# theta = (B (p x K, column-major), log sigma_k, v (gate coefficients of component 2, with
# component 1 the reference: P(2 | NO) = plogis(v_1 + v_2 NO))).
# B and v are natural parameters: their SEs are sqrt(diag(solve(H))) directly. Components are
# reported with the falling line first (the gate's reference); relabelling the components
# flips the sign of v and leaves its SEs unchanged.

suppressPackageStartupMessages({ library(mixtools); library(jsonlite) })

args <- commandArgs(trailingOnly = TRUE)
script_dir <- local({
  a <- commandArgs(FALSE); f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f)) dirname(normalizePath(f)) else getwd()
})
data_dir <- if (length(args) >= 1 && nzchar(args[1])) args[1] else file.path(script_dir, "..", "..", "..", "datasets")
out_dir <- if (length(args) >= 2) args[2] else file.path(script_dir, "..", "values")
versions <- list(R_version = R.version.string, mixtools = as.character(packageVersion("mixtools")),
                 jsonlite = as.character(packageVersion("jsonlite")))

lse <- function(L) { m <- apply(L, 1, max); m + log(rowSums(exp(L - m))) }
unpack <- function(th, p, K) {
  list(B = matrix(th[1:(p * K)], p, K), s = exp(th[p * K + 1:K]), v = th[p * K + K + 1:p])
}
logjoint <- function(th, X, y, K) {
  P <- unpack(th, ncol(X), K); mu <- X %*% P$B
  eta <- drop(X %*% P$v)
  lg <- cbind(-log1p(exp(eta)), eta - log1p(exp(eta)))   # log P(1 | x), log P(2 | x)
  sapply(1:K, function(k) lg[, k] + dnorm(y, mu[, k], P$s[k], log = TRUE))
}
loglik <- function(th, X, y, K) sum(lse(logjoint(th, X, y, K)))
score <- function(th, X, y, K) {
  P <- unpack(th, ncol(X), K); mu <- X %*% P$B
  L <- logjoint(th, X, y, K); r <- exp(L - lse(L))
  g2 <- plogis(drop(X %*% P$v))
  gB <- sapply(1:K, function(k) crossprod(X, r[, k] * (y - mu[, k]) / P$s[k]^2))
  gs <- sapply(1:K, function(k) sum(r[, k] * ((y - mu[, k])^2 / P$s[k]^2 - 1)))
  c(gB, gs, drop(crossprod(X, r[, 2] - g2)))
}

no <- read.csv(file.path(data_dir, "NOdata.csv"))
X <- cbind("(Intercept)" = 1, NO = no$NO); y <- no$Equivalence; K <- 2; p <- 2
set.seed(100)
em <- regmixEM(y, no$NO)
hme <- hmeEM(y, no$NO, beta = em$beta)
# Falling line first: the gate's reference component.
ord <- order(hme$beta[2, ])
B0 <- hme$beta[, ord]; s0 <- hme$sigma[ord]; post <- hme$posterior[, ord]
v0 <- coef(suppressWarnings(glm(post[, 2] ~ no$NO, family = quasibinomial())))
th <- c(B0, log(s0), v0)
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
se <- sqrt(diag(V))
se_B <- matrix(se[1:(p * K)], p, K)
se_v <- se[p * K + K + 1:p]
Jv <- diag(2 * P$s^2, K)                 # d sigma_k^2 / d log sigma_k
se_var <- sqrt(diag(Jv %*% V[p * K + 1:K, p * K + 1:K] %*% Jv))

out <- list(
  dataset = "NOdata.csv",
  description = "Observed-information standard errors, NOdata Equivalence ~ NO, 2 linear experts, softmax (logistic) gate ~ NO",
  versions = versions, generated_by = "tests/reference/gen/standard_errors_softmax.R",
  conventions = paste("SEs = sqrt(diag(solve(optimHess(theta, f, g)))) at the polished maximum,",
                      "f = -loglik, theta = (B, log sigma, v) with P(component 2 | NO) =",
                      "plogis(v[1] + v[2] NO); component 1 (the reference) is the falling line;",
                      "variance SEs by the delta method"),
  fits = list(hmeEM_Equivalence_on_NO = list(
    n = length(y), K = K, package = "mixtools", package_version = versions$mixtools,
    call = paste("set.seed(100); em <- regmixEM(Equivalence, NO); hme <- hmeEM(Equivalence, NO,",
                 "beta = em$beta); gate start glm(posterior ~ NO, quasibinomial); then BFGS +",
                 "Newton polish; optimHess(theta, f, g)"),
    loglik_hmeEM = hme$loglik, loglik = -f(th), max_abs_grad = max(abs(g(th))),
    hessian_eigen_range = range(eigen(H, symmetric = TRUE, only.values = TRUE)$values),
    gate = list(coefficients = setNames(as.list(P$v), colnames(X)),
                coefficient_se = setNames(as.list(se_v), colnames(X))),
    components = lapply(1:K, function(k) list(
      coefficients = setNames(as.list(P$B[, k]), colnames(X)),
      coefficient_se = setNames(as.list(se_B[, k]), colnames(X)),
      variance = P$s[k]^2, variance_se = se_var[k])))))
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
path <- file.path(out_dir, "se_NOdata_softmax.json")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), path)
cat("wrote", normalizePath(path), "\n")
str(out$fits$hmeEM_Equivalence_on_NO[c("loglik_hmeEM", "loglik", "max_abs_grad", "gate")])
