#!/usr/bin/env Rscript
# The K x structure BIC table that Mclust() prints for Old Faithful (both columns, n = 272):
# all 14 mclust covariance structures, K = 1..9, with mclust's sign convention
# (BIC = 2 loglik - npar log n, larger is better; moekit's bic is minus this).
#
# Usage: Rscript mclust_table.R [DATA_CSV] [OUT_JSON]
#   DATA_CSV defaults to <repo>/datasets/faithful.csv
#   OUT_JSON defaults to <this script's dir>/../values/mclust_table_faithful.json
#
# The tables:
#  - "bic_default": mclustBIC(faithful) = Mclust(faithful)$BIC, default controls (EM stops at
#    a relative loglik change of 1e-5; every fit starts from model-based hierarchical
#    agglomeration, hc(modelName = "VVV", use = "SVD")). NA where mclust's fit failed.
#  - "bic_tight": the same starts, emControl(tol = c(1e-12, 1e-12)): the converged value of
#    the optimum mclust's start leads to (the value a converged fit from that start reaches).
#  - "bic_best": the best of mclust's start, 20 k-means starts per cell (set.seed(s);
#    kmeans(X, K, nstart = 1), s = 1..20) and, in rounds until no cell improves, the best fit
#    of every other structure with the same K as a start; every candidate run by
#    me(..., tol 1e-12), keeping the best optimum without a degenerate component (the rule
#    below). With "best_source" (which start), "degenerate" (no proper optimum found),
#    "best_min_rows", "best_min_sd_ratio", "best_thinnest_ratio" and "mclust_class" (the
#    printed cell against the best); "mclust_degenerate": the rule at the fit mclust prints
#    (me() from its hc start with the default controls).
# mclust_table_polish.R then adds "bic_best_known": bic_best, or moekit's fit checked in R
# where that is higher.
# npar = nMclustParams(model, d = 2, G = K) (mixing weights + means + covariance parameters).

suppressPackageStartupMessages({ library(mclust); library(jsonlite) })

args <- commandArgs(trailingOnly = TRUE)
script_dir <- local({
  a <- commandArgs(FALSE); f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f)) dirname(normalizePath(f)) else getwd()
})
data_csv <- if (length(args) >= 1) args[1] else
  file.path(script_dir, "..", "..", "..", "datasets", "faithful.csv")
out_json <- if (length(args) >= 2) args[2] else
  file.path(script_dir, "..", "values", "mclust_table_faithful.json")

X <- as.matrix(read.csv(data_csv))
n <- nrow(X); d <- ncol(X)
stopifnot(n == 272, d == 2)
models <- mclust.options("emModelNames")
stopifnot(length(models) == 14)
Ks <- 1:9

tab <- function(b) {
  m <- matrix(as.numeric(b), nrow = length(Ks), dimnames = list(Ks, models))
  m[, models, drop = FALSE]
}
bic_default <- tab(mclustBIC(X, G = Ks, modelNames = models))
bic_tight <- tab(mclustBIC(X, G = Ks, modelNames = models,
                           control = emControl(tol = c(1e-12, 1e-12))))
npar <- sapply(models, function(m) sapply(Ks, function(K) nMclustParams(m, d, K)))
rownames(npar) <- Ks

# Best known optimum of every cell: the converged fit from mclust's start, from 20 k-means
# starts, and then (until no cell improves) from the converged partition of every other
# structure with the same K (mclust's own practice of seeding all structures from one
# partition, over all 14 partitions). Every candidate is me(..., tol 1e-12).
source(file.path(script_dir, "mclust_degenerate.R"))
judge <- degeneracy_judge(X)
fit_cell <- function(K, m, z, control = emControl(tol = c(1e-12, 1e-12)), proper = TRUE) {
  fit <- tryCatch(me(data = X, modelName = m, z = z, control = control),
                  error = function(e) NULL, warning = function(w) NULL)
  if (is.null(fit) || !is.finite(fit$loglik)) return(NULL)
  if (proper && judge(K, m, colSums(fit$z), fit$parameters$variance$sigma)$degenerate) NULL else fit
}
best_fit <- list(); bic_best <- bic_tight; bic_best[as.character(Ks[Ks > 1]), ] <- NA
best_source <- matrix("hc", nrow = length(Ks), ncol = length(models), dimnames = dimnames(bic_tight))
key <- function(K, m) paste(K, m)
consider <- function(K, m, fit, source) {
  if (is.null(fit)) return(FALSE)
  k <- as.character(K)
  b <- 2 * fit$loglik - npar[k, m] * log(n)
  if (is.null(best_fit[[key(K, m)]]) || is.na(bic_best[k, m]) || b > bic_best[k, m] + 1e-9) {
    best_fit[[key(K, m)]] <<- fit
    if (is.na(bic_best[k, m]) || b > bic_best[k, m] + 1e-9) best_source[k, m] <<- source
    bic_best[k, m] <<- max(b, bic_best[k, m], na.rm = TRUE)
    return(TRUE)
  }
  FALSE
}
for (K in Ks[Ks > 1]) for (m in models) {
  hcz <- unmap(hclass(hc(X, modelName = "VVV", use = "SVD"), K))
  consider(K, m, fit_cell(K, m, hcz), "hc")
  for (s in 1:20) {
    set.seed(s)
    consider(K, m, fit_cell(K, m, unmap(kmeans(X, K, nstart = 1)$cluster)), sprintf("kmeans seed %d", s))
  }
}
for (round in 1:5) {
  improved <- 0
  for (K in Ks[Ks > 1]) for (m in models) for (m2 in models) if (m2 != m) {
    donor <- best_fit[[key(K, m2)]]
    if (is.null(donor)) next
    if (consider(K, m, fit_cell(K, m, donor$z), sprintf("from %s's best (round %d)", m2, round)))
      improved <- improved + 1
  }
  cat("cross-seeding round", round, ":", improved, "cells improved\n")
  if (improved == 0) break
}
# Degenerate cells: no optimum without a degenerate component was found (every candidate
# above is judged by the rule, and only proper ones are kept). NA cells are degenerate too.
# mclust_degenerate: the rule at the fit mclust prints (its hc start, the default controls).
min_rows <- matrix(NA_real_, length(Ks), length(models), dimnames = dimnames(bic_tight))
min_sd_ratio <- min_rows; thinnest_ratio <- min_rows
degenerate <- matrix(FALSE, length(Ks), length(models), dimnames = dimnames(bic_tight))
mclust_degenerate <- degenerate
for (K in Ks) for (m in models) {
  k <- as.character(K)
  fit <- if (K == 1) mvn(modelName = if (m %in% c("EII", "VII")) "XII" else if (m %in% c("EEI", "VEI", "EVI", "VVI")) "XXI" else "XXX", data = X) else best_fit[[key(K, m)]]
  if (K > 1) {
    printed <- fit_cell(K, m, unmap(hclass(hc(X, modelName = "VVV", use = "SVD"), K)),
                        control = emControl(), proper = FALSE)
    mclust_degenerate[k, m] <- is.null(printed) ||
      judge(K, m, colSums(printed$z), printed$parameters$variance$sigma)$degenerate
  }
  if (is.null(fit)) { degenerate[k, m] <- TRUE; next }
  rule <- judge(K, m, if (K == 1) n else colSums(fit$z), fit$parameters$variance$sigma)
  min_rows[k, m] <- rule$min_rows; min_sd_ratio[k, m] <- rule$min_sd_ratio
  thinnest_ratio[k, m] <- rule$thinnest; degenerate[k, m] <- rule$degenerate
}
# mclust's printed cell against the best known value: "at best" (within 1e-3), "stopped short"
# (its converged value from its own start is the best known, its 1e-5 stop is below), "other
# basin" (its start converges to a lower maximum), "degenerate" (no proper optimum known),
# "printed fit degenerate" (the fit mclust prints has a degenerate component).
classify <- function(k, m) {
  if (degenerate[k, m]) return("degenerate")
  if (mclust_degenerate[k, m]) return("printed fit degenerate")
  if (abs(bic_default[k, m] - bic_best[k, m]) <= 1e-3) return("at best")
  if (abs(bic_tight[k, m] - bic_best[k, m]) <= 1e-3) return("stopped short")
  "other basin"
}
mclust_class <- matrix(mapply(classify, rep(as.character(Ks), length(models)),
                              rep(models, each = length(Ks))),
                       nrow = length(Ks), dimnames = dimnames(bic_tight))
print(table(mclust_class))

print(round(bic_default, 3)); print(round(bic_tight, 3)); print(round(bic_best, 3))
best <- which(bic_default == max(bic_default, na.rm = TRUE), arr.ind = TRUE)
rows <- function(m) lapply(seq_along(Ks), function(i) unname(m[i, ]))
out <- list(
  dataset = "datasets/faithful.csv", n = n, d = d,
  generated_by = "tests/reference/gen/mclust_table.R",
  versions = list(R_version = R.version.string, mclust = as.character(packageVersion("mclust")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  call_default = "mclustBIC(faithful, G = 1:9)  # = Mclust(faithful, G = 1:9)$BIC",
  call_tight = "mclustBIC(faithful, G = 1:9, control = emControl(tol = c(1e-12, 1e-12)))",
  call_best = "max over: me(faithful, model, z = unmap(hclass(hc(faithful, 'VVV', use = 'SVD'), K))), set.seed(s); me(faithful, model, z = unmap(kmeans(faithful, K)$cluster)) for s = 1..20, and me(faithful, model, z = best fit of another structure at K) until no cell improves; all with control = emControl(tol = c(1e-12, 1e-12))",
  degenerate_rule = "a component holds fewer rows of responsibility than (K d + nVarParams(model, d, K)) / K, or its standard deviation along its thinnest direction, in the columns' standardised coordinates, is below 0.01; the best known values are the best optima without a degenerate component, and a cell is degenerate when none is known",
  convention = "mclust: BIC = 2 loglik - npar log(n), larger is better",
  models = models, K = Ks,
  npar = rows(npar),
  bic_default = rows(bic_default), bic_tight = rows(bic_tight), bic_best = rows(bic_best),
  best_source = rows(best_source),
  best_min_rows = rows(min_rows), best_min_sd_ratio = rows(min_sd_ratio),
  best_thinnest_ratio = rows(thinnest_ratio),
  degenerate = rows(degenerate), mclust_degenerate = rows(mclust_degenerate),
  mclust_class = rows(mclust_class),
  mclust_choice = list(model = models[best[1, 2]], K = Ks[best[1, 1]]))
dir.create(dirname(out_json), showWarnings = FALSE, recursive = TRUE)
writeLines(toJSON(out, digits = NA, pretty = TRUE, na = "null", auto_unbox = TRUE), out_json)
cat("wrote", normalizePath(out_json), "\n")
