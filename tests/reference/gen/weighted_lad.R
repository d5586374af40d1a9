# Reference values for tests/robust/test_weighted_lad.cpp: weighted median (LAD)
# regression by quantreg's Barrodale-Roberts simplex, rq(..., tau = 0.5, method = "br").
# The data are closed-form in the row index so that the C++ test rebuilds them exactly:
#   i = 1..n, x1 = sin(i), x2 = cos(2 i) * i / n, y = 1 + 2 x1 - x2 + 3 sin(7 i)^3,
#   w = 0.2 + ((37 i) mod 11) / 10.
# Run: Rscript tests/reference/gen/weighted_lad.R
suppressMessages(library(quantreg))
n <- 25
i <- 1:n
x1 <- sin(i)
x2 <- cos(2 * i) * i / n
y <- 1 + 2 * x1 - x2 + 3 * sin(7 * i)^3
w <- 0.2 + ((i * 37) %% 11) / 10
fit <- rq(y ~ x1 + x2, tau = 0.5, weights = w, method = "br")
cat("quantreg", as.character(packageVersion("quantreg")), "\n")
cat("coefficients", sprintf("%.17g", coef(fit)), "\n")
cat("objective", sprintf("%.17g", sum(w * abs(y - cbind(1, x1, x2) %*% coef(fit)))), "\n")
