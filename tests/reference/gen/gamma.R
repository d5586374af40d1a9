# A mixture of two Gamma regressions with the log link and one shape per component,
# waiting ~ eruptions on faithful, maximised directly (no R package fits this model: flexmix's
# FLXMRglm(family = "Gamma") has the inverse link and one dispersion). The log-likelihood is
# written out and maximised by optim (BFGS, then Nelder-Mead polish) from 100 random starts; only proper maxima count.
# Run from the repository root: Rscript tests/reference/gen/gamma.R
# Output recorded in tests/reference/values/gamma.json.
d <- read.csv("datasets/faithful.csv")
y <- d$waiting; x <- cbind(1, d$eruptions)
nll <- function(th) {
  p1 <- plogis(th[1])
  b1 <- th[2:3]; b2 <- th[4:5]; nu1 <- exp(th[6]); nu2 <- exp(th[7])
  mu1 <- exp(x %*% b1); mu2 <- exp(x %*% b2)
  l1 <- dgamma(y, shape = nu1, scale = mu1 / nu1, log = TRUE)
  l2 <- dgamma(y, shape = nu2, scale = mu2 / nu2, log = TRUE)
  m <- pmax(l1, l2)
  -sum(m + log(p1 * exp(l1 - m) + (1 - p1) * exp(l2 - m)))
}
set.seed(1)
best <- Inf; bth <- NULL
for (i in 1:100) {
  # A start from a random split: a Gamma GLM (log link) fitted to each half.
  s <- runif(length(y)) < 0.5
  if (i %% 2 == 0) s <- d$eruptions < quantile(d$eruptions, runif(1, 0.2, 0.8))
  g1 <- glm(y[s] ~ x[s, 2], family = Gamma(link = "log"))
  g2 <- glm(y[!s] ~ x[!s, 2], family = Gamma(link = "log"))
  th0 <- c(qlogis(mean(s)), coef(g1), coef(g2),
           log(1 / summary(g1)$dispersion), log(1 / summary(g2)$dispersion))
  o <- try(optim(th0, nll, method = "BFGS", control = list(maxit = 5000, reltol = 1e-14)),
           silent = TRUE)
  if (inherits(o, "try-error") || !is.finite(o$value)) next
  o <- optim(o$par, nll, method = "Nelder-Mead", control = list(maxit = 20000, reltol = 1e-15))
  o <- optim(o$par, nll, method = "BFGS", control = list(maxit = 5000, reltol = 1e-15))
  # Proper maxima only: the likelihood is unbounded (a component whose shape grows without
  # bound on one row), so a component must hold at least 5 rows' worth of posterior mass
  # and a shape below 1e4.
  th <- o$par; p1 <- plogis(th[1])
  l1 <- log(p1) + dgamma(y, shape = exp(th[6]), scale = exp(x %*% th[2:3]) / exp(th[6]), log = TRUE)
  l2 <- log(1 - p1) + dgamma(y, shape = exp(th[7]), scale = exp(x %*% th[4:5]) / exp(th[7]), log = TRUE)
  h1 <- 1 / (1 + exp(l2 - l1))
  if (min(sum(h1), sum(1 - h1)) < 5 || max(exp(th[6:7])) > 1e4) next
  if (o$value < best) { best <- o$value; bth <- o$par }
}
cat(sprintf("faithful waiting ~ eruptions, Gamma log link, K = 2: loglik %.10f\n", -best))
cat(sprintf("weight %.8f coef1 %.8f %.8f coef2 %.8f %.8f shape %.6f %.6f\n", plogis(bth[1]),
            bth[2], bth[3], bth[4], bth[5], exp(bth[6]), exp(bth[7])))
cat(sprintf("%s\n", R.version.string))
