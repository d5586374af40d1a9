#!/usr/bin/env Rscript
# tonedata's two columns (stretchratio, tuned) as a K = 2 Gaussian mixture with full,
# component-specific covariances (mclust "VVV"), the bound of docs/starts.md's search test.
#   mclust   : Mclust(X, G = 2, modelNames = "VVV") with mclust's defaults (its start is
#              model-based hierarchical agglomeration, hc VVV); loglik as reported.
#   hc       : hclass(hc(X, modelName = "VVV"), 2), mclust's hierarchical start, as a string of
#              the rows' labels (tests/fit/test_hierarchical_start.cpp).
#   polished : the same EM continued from mclust's classification with a tight tolerance
#              (emControl(tol = c(1e-13, 1e-13)), itmax 1e5), and the log-likelihood
#              recomputed at its parameters with mvtnorm-free code below.
# -> values/tonedata_gmm.json
# Usage: OPENBLAS_NUM_THREADS=1 Rscript tonedata_gmm.R [DATA_DIR] [OUT_DIR]
suppressPackageStartupMessages({ library(mclust); library(jsonlite) })
args <- commandArgs(trailingOnly = TRUE)
data_dir <- if (length(args) >= 1 && nzchar(args[1])) args[1] else "datasets"
out_dir <- if (length(args) >= 2 && nzchar(args[2])) args[2] else "tests/reference/values"
X <- as.matrix(read.csv(file.path(data_dir, "tonedata.csv"))[, c("stretchratio", "tuned")])

fit <- Mclust(X, G = 2, modelNames = "VVV", verbose = FALSE)
tight <- me(X, modelName = "VVV", z = fit$z,
            control = emControl(tol = c(1e-13, 1e-13), itmax = c(100000L, 100000L)))
loglik_at <- function(pro, mean, sigma) {
  dens <- sapply(seq_along(pro), function(k) {
    S <- sigma[, , k]; r <- sweep(X, 2, mean[, k])
    q <- rowSums((r %*% solve(S)) * r)
    pro[k] * exp(-q / 2) / (2 * pi * sqrt(det(S)))
  })
  sum(log(rowSums(dens)))
}
p <- tight$parameters
eig <- lapply(1:2, function(k) eigen(p$variance$sigma[, , k])$values)
hc_labels <- hclass(hc(X, modelName = "VVV"), 2)
out <- list(
  dataset = "tonedata.csv", n = nrow(X), K = 2,
  model = "Gaussian mixture of (stretchratio, tuned), full component-specific covariances",
  generated_by = "tests/reference/gen/tonedata_gmm.R",
  R_version = R.version.string,
  package = "mclust", package_version = as.character(packageVersion("mclust")),
  hc = list(call = 'hclass(hc(X, modelName = "VVV"), 2)',
            hc_use = mclust.options("hcUse"),
            labels = paste(hc_labels, collapse = ""),
            sizes = as.vector(table(hc_labels))),
  mclust = list(call = 'Mclust(X, G = 2, modelNames = "VVV")', loglik = fit$loglik,
                proportions = fit$parameters$pro),
  polished = list(
    call = 'me(X, "VVV", z = Mclust(...)$z, control = emControl(tol = c(1e-13, 1e-13), itmax = 1e5))',
    loglik = tight$loglik,
    loglik_recomputed = loglik_at(p$pro, p$mean, p$variance$sigma),
    proportions = p$pro,
    means_note = "one row per column (stretchratio, tuned), one entry per component",
    means = p$mean,
    covariance_eigenvalues = eig,
    weight_sums = colSums(tight$z)))
write(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
      file.path(out_dir, "tonedata_gmm.json"))
cat(sprintf("mclust %.6f polished %.9f recomputed %.9f\n", fit$loglik, tight$loglik,
            out$polished$loglik_recomputed))
