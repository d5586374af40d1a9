# Mixtures of negative binomial regressions (NB2, log link, one theta per component) on
# bioChemists, art ~ fem + mar + kid5 + phd + ment. No R package fits this mixture (flexmix
# 2.3-18 has no FLXMRnegbin), so the mixture log-likelihood is written out and maximised by
# optim (BFGS, Nelder-Mead, BFGS) from 60 starts; K = 1 is MASS::glm.nb.
# Run from the repository root: Rscript tests/reference/gen/negbin.R
# Output recorded in tests/reference/values/negbin.json.
suppressMessages(library(MASS))
d <- read.csv("datasets/bioChemists.csv")
y <- d$art; x <- cbind(1, d$fem, d$mar, d$kid5, d$phd, d$ment); p <- ncol(x)
g1 <- glm.nb(art ~ fem + mar + kid5 + phd + ment, data = d, control = glm.control(epsilon = 1e-14, maxit = 200))
cat(sprintf("K = 1 glm.nb: loglik %.10f theta %.8f\n", as.numeric(logLik(g1)), g1$theta))
cat(sprintf("coef %s\n", paste(sprintf("%.8f", coef(g1)), collapse = " ")))
comp <- function(th, k) {
  o <- 1 + (k - 1) * (p + 1)
  b <- th[o:(o + p - 1)]; theta <- exp(th[o + p])
  dnbinom(y, size = theta, mu = exp(x %*% b), log = TRUE)
}
nll <- function(th) {
  p1 <- plogis(th[length(th)])
  l1 <- log(p1) + comp(th, 1); l2 <- log(1 - p1) + comp(th, 2)
  m <- pmax(l1, l2)
  -sum(m + log(exp(l1 - m) + exp(l2 - m)))
}
set.seed(1)
best <- Inf; bth <- NULL
for (i in 1:60) {
  s <- runif(length(y)) < 0.5
  if (i %% 2 == 0) s <- y <= quantile(y, runif(1, 0.3, 0.8))
  f1 <- try(glm.nb(y[s] ~ x[s, -1]), silent = TRUE)
  f2 <- try(glm.nb(y[!s] ~ x[!s, -1]), silent = TRUE)
  if (inherits(f1, "try-error") || inherits(f2, "try-error")) next
  th0 <- c(coef(f1), log(min(f1$theta, 100)), coef(f2), log(min(f2$theta, 100)), qlogis(mean(s)))
  o <- try(optim(th0, nll, method = "BFGS", control = list(maxit = 5000, reltol = 1e-14)),
           silent = TRUE)
  if (inherits(o, "try-error") || !is.finite(o$value)) next
  o <- optim(o$par, nll, method = "Nelder-Mead", control = list(maxit = 20000, reltol = 1e-15))
  o <- optim(o$par, nll, method = "BFGS", control = list(maxit = 5000, reltol = 1e-15))
  if (o$value < best) { best <- o$value; bth <- o$par }
}
cat(sprintf("K = 2: loglik %.10f\n", -best))
cat(sprintf("weight %.8f\n", plogis(bth[length(bth)])))
cat(sprintf("comp1 %s theta %.6f\n", paste(sprintf("%.8f", bth[1:p]), collapse = " "), exp(bth[p + 1])))
cat(sprintf("comp2 %s theta %.6f\n", paste(sprintf("%.8f", bth[(p + 2):(2 * p + 1)]), collapse = " "), exp(bth[2 * p + 2])))
cat(sprintf("%s, MASS %s\n", R.version.string, packageVersion("MASS")))
