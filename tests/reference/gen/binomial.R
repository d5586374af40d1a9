# Mixtures of binomial regressions with trials (flexmix FLXMRglm(family = "binomial")) on the
# beta-blocker meta-analysis, and the CSV shipped as datasets/betablocker.csv.
# Run from the repository root: Rscript tests/reference/gen/binomial.R
# Output recorded in tests/reference/values/binomial.json.
suppressMessages(library(flexmix))
data(betablocker)
b <- betablocker
b$Survivors <- b$Total - b$Deaths
write.csv(b[, c("Deaths", "Survivors", "Total", "Center", "Treatment")],
          "datasets/betablocker.csv", row.names = FALSE, quote = FALSE)
fit_best <- function(formula, k, reps = 100) {
  best <- -Inf; bm <- NULL
  for (i in 1:reps) {
    m <- try(flexmix(formula, data = b, k = k, model = FLXMRglm(family = "binomial"),
                     control = list(iter.max = 5000, tol = 1e-13, minprior = 0)), silent = TRUE)
    if (inherits(m, "try-error") || length(m@size) < k) next
    l <- as.numeric(logLik(m)); if (l > best) { best <- l; bm <- m }
  }
  list(loglik = best, model = bm)
}
set.seed(1)
r1 <- fit_best(cbind(Deaths, Survivors) ~ Treatment, 2)
cat(sprintf("ungrouped K=2 %.10f\n", r1$loglik)); print(parameters(r1$model)); print(prior(r1$model))
r2 <- fit_best(cbind(Deaths, Survivors) ~ Treatment | Center, 3)
cat(sprintf("grouped by Center K=3 %.10f\n", r2$loglik)); print(parameters(r2$model)); print(prior(r2$model))
cat(sprintf("flexmix %s %s\n", packageVersion("flexmix"), R.version.string))
