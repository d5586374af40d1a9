#!/usr/bin/env Rscript
# Adds moekit's fits to the best known values of mclust_table_faithful.json where they are
# higher than mclust's search found (mclust_table.R) or than an earlier polish and proper by
# mclust_table.R's degeneracy rule, checked in R: the log-likelihood of the
# moekit model's parameters is recomputed here from the Gaussian densities, and me() is run
# from its posteriors (tol 1e-12) to polish it; the larger of the two is kept (mclust 6.0.0's
# VVE M-step stops above the minimum of its objective, docs/math/covariance_structures.md, so
# me() can lower a VVE fit). The models come from
#   moekit fit datasets/faithful.csv -k K --covariance MODEL --restarts 30 --json -q > MODEL_K.json
# or, every cell of the table at once (select's cross-structure and split starts):
#   moekit select datasets/faithful.csv --covariance all -k 1:9 --models-dir DIR -q
#
# Usage: Rscript mclust_table_polish.R JSON [--source=TEXT] MODEL_K.json...
# (TEXT names the moekit command that made the models, recorded as each raised cell's source.)
suppressPackageStartupMessages({ library(mclust); library(jsonlite) })
args <- commandArgs(trailingOnly = TRUE)
ref_path <- args[1]
source_arg <- grep("^--source=", args, value = TRUE)
source_text <- if (length(source_arg)) sub("^--source=", "", source_arg[1]) else
  "moekit fit -k %d --covariance %s --restarts 30"
args <- setdiff(args, source_arg)
ref <- fromJSON(ref_path, simplifyVector = FALSE)
X <- as.matrix(read.csv(file.path(dirname(ref_path), "..", "..", "..", "datasets", "faithful.csv")))
n <- nrow(X)
script_dir <- local({
  a <- commandArgs(FALSE); f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f)) dirname(normalizePath(f)) else getwd()
})
source(file.path(script_dir, "mclust_degenerate.R"))
judge <- degeneracy_judge(X)  # mclust_table.R's rule
models <- unlist(ref$models)
if (is.null(ref$bic_best_known)) {
  ref$bic_best_known <- ref$bic_best
  ref$best_known_source <- ref$best_source
}
for (path in args[-1]) {
  cell <- strsplit(sub("\\.json$", "", basename(path)), "_")[[1]]
  m <- cell[1]; K <- as.integer(cell[2]); j <- match(m, models)
  fit <- fromJSON(path, simplifyVector = FALSE)
  comps <- fit$parameters$experts$components
  shared <- fit$parameters$experts$shared$covariance  # the equal-volume-shape-orientation ones
  w <- unlist(fit$parameters$gates[[1]]$parameters$weights)
  dens <- sapply(seq_len(K), function(k) {
    mu <- unlist(comps[[k]]$mean); S <- matrix(unlist(if (is.null(comps[[k]]$covariance)) shared else comps[[k]]$covariance),
                                     2, byrow = TRUE)
    w[k] * exp(-0.5 * mahalanobis(X, mu, S) - 0.5 * log(det(2 * pi * S)))
  })
  ll <- sum(log(rowSums(dens)))
  sigma_of <- function(k) matrix(unlist(if (is.null(comps[[k]]$covariance)) shared else
                                          comps[[k]]$covariance), 2)
  polish <- tryCatch(me(X, m, dens / rowSums(dens), control = emControl(tol = c(1e-12, 1e-12))),
                     error = function(e) NULL)
  polished <- if (is.null(polish) || !is.finite(polish$loglik)) NA else polish$loglik
  # mclust_table.R's degeneracy rule (rows of responsibility, the thinnest direction's sd in
  # the columns' standardised coordinates) at moekit's optimum and at me()'s.
  at_moekit <- judge(K, m, colSums(dens / rowSums(dens)),
                     array(sapply(seq_len(K), sigma_of), c(2, 2, K)))
  at_polish <- if (is.na(polished)) NULL else
    judge(K, m, colSums(polish$z), polish$parameters$variance$sigma)
  # The value kept: me()'s when it is higher and proper, else moekit's when it is proper and
  # me() does not climb from it by more than 5e-4 (a BIC of 1e-3; me() from a point held by
  # moekit's variance floor climbs on toward a singular component); a degenerate optimum is
  # never kept.
  kept <- if (!is.null(at_polish) && !at_polish$degenerate && polished >= ll) "me" else
    if (!at_moekit$degenerate && (is.na(polished) || polished <= ll + 5e-4)) "moekit" else "none"
  rule <- if (kept == "me") at_polish else at_moekit
  best <- if (kept == "me") polished else ll
  bic <- 2 * best - nMclustParams(m, 2, K) * log(n)
  cat(sprintf(paste("%s K=%d: moekit loglik in R %.6f, me() polish %.6f, BIC %.4f (best so far %.4f);",
                    "min rows %.3f, min sd ratio %.4f, thinnest direction's sd ratio %.5f%s\n"),
              m, K, ll, polished, bic, ref$bic_best_known[[K]][[j]], rule$min_rows,
              rule$min_sd_ratio, rule$thinnest, if (kept == "none") "; degenerate, not kept" else ""))
  if (kept != "none" && (is.null(ref$bic_best_known[[K]][[j]]) ||
                         bic > ref$bic_best_known[[K]][[j]] + 1e-9)) {
    ref$bic_best_known[[K]][[j]] <- bic
    cmd <- if (grepl("%d", source_text, fixed = TRUE)) sprintf(source_text, K, m) else source_text
    ref$best_known_source[[K]][[j]] <- sprintf(
      "%s (loglik recomputed in R%s)", cmd, if (kept == "me") ", polished by me()" else "")
    ref$best_min_rows[[K]][[j]] <- rule$min_rows
    ref$best_min_sd_ratio[[K]][[j]] <- rule$min_sd_ratio
    ref$best_thinnest_ratio[[K]][[j]] <- rule$thinnest
    ref$degenerate[[K]][[j]] <- FALSE
    # mclust's printed cell against the raised value (mclust_table.R's classes).
    ref$mclust_class[[K]][[j]] <-
      if (isTRUE(ref$mclust_degenerate[[K]][[j]])) "printed fit degenerate"
      else if (abs(ref$bic_default[[K]][[j]] - bic) <= 1e-3) "at best"
      else if (abs(ref$bic_tight[[K]][[j]] - bic) <= 1e-3) "stopped short" else "other basin"
  }
}
ref$call_best_known <- "max(bic_best, moekit's fits checked in R: tests/reference/gen/mclust_table_polish.R)"
writeLines(toJSON(ref, digits = NA, pretty = TRUE, na = "null", auto_unbox = TRUE, null = "null"), ref_path)
