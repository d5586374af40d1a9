# moekit's degeneracy rule (lib/src/fit/em.cpp degenerate_components; McLachlan & Peel 2000,
# 3.10) for mclust fits of the columns of X, sourced by mclust_table.R and
# mclust_table_polish.R. judge(K, model, sizes, sigma) at a fit with component sizes (rows of
# responsibility) and covariances sigma (d x d x K): degenerate when some component holds
# fewer rows than its own parameters (its mean, d, and its share of the covariance parameters,
# nVarParams / K, except under the tied EII, EEI and EEE, whose covariance all rows
# estimate: Experts::shared_num_params), or its standard
# deviation along its thinnest direction, in the columns' standardised coordinates, is below
# 0.01 (which covers each column's own sd below 0.01 of the column's).
degeneracy_judge <- function(X) {
  d <- ncol(X)
  col_sd <- apply(X, 2, sd)
  function(K, m, sizes, sigma) {
    sigma <- array(sigma, c(d, d, K))
    sds <- sapply(seq_len(K), function(j) sqrt(diag(as.matrix(sigma[, , j]))) / col_sd)
    thin <- sapply(seq_len(K), function(j) sqrt(max(min(eigen(
      sigma[, , j] / outer(col_sd, col_sd), symmetric = TRUE, only.values = TRUE)$values), 0)))
    own <- if (m %in% c("EII", "EEI", "EEE")) d else (K * d + nVarParams(m, d, K)) / K
    list(min_rows = min(sizes), min_sd_ratio = min(sds), thinnest = min(thin),
         degenerate = min(sizes) < own || min(thin) < 0.01)
  }
}
