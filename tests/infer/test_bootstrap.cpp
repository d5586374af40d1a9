// The nonparametric bootstrap against the observed-information standard errors, its
// independence of the thread count, resampling of grouped data, and the parametric
// bootstrap likelihood-ratio test of K against K + 1 on data with a known K.

#include "experts/regression_util.hpp"
#include "moekit/core/rng.hpp"
#include "moekit/infer/bootstrap.hpp"
#include "moekit/infer/bootstrap_lrt.hpp"
#include "moekit/infer/selection.hpp"
#include "moekit/infer/standard_errors.hpp"
#include "moekit/stats/sample_quantile.hpp"
#include "support/simulate.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <set>

using namespace moekit;

namespace {

// n rows from two well-separated regression lines under a constant gate:
// y = 0 + x + e (weight 0.4) and y = 6 - x + e (weight 0.6), x ~ U(0, 2), e ~ N(0, 0.5^2).
testing::Problem two_lines(Index n, std::uint64_t seed) {
  Rng rng(seed);
  testing::Problem p;
  p.spec.experts = "linear";
  p.spec.gate = "constant";
  p.spec.K = 2;
  p.spec.data.formula = "y ~ x";
  p.spec.data.response_names = {"y"};
  p.spec.data.x_names = {"(Intercept)", "x"};
  p.spec.data.z_names = {"(Intercept)", "x"};
  p.data.y.resize(n, 1);
  p.data.x.resize(n, 2);
  for (Index i = 0; i < n; ++i) {
    const double x = 2.0 * uniform01(rng);
    const bool first = uniform01(rng) < 0.4;
    p.data.x.row(i) << 1.0, x;
    p.data.y(i, 0) = (first ? x : 6.0 - x) + 0.5 * standard_normal(rng);
    p.data.lines.push_back(i + 2);
  }
  p.data.z = p.data.x;
  return p;
}

// n rows of a univariate Gaussian mixture with K = 2: N(-2, 1) and N(2, 1), equal weights.
Dataset two_clusters(Index n, std::uint64_t seed) {
  Rng rng(seed);
  Vector w(2);
  w << 0.5, 0.5;
  Matrix means(2, 1);
  means << -2.0, 2.0;
  const auto s =
      testing::simulate_mixture(n, w, means, {Matrix::Ones(1, 1), Matrix::Ones(1, 1)}, rng);
  Dataset d;
  d.y = s.y;
  d.x = Matrix::Ones(n, 1);
  d.z = Matrix::Ones(n, 1);
  return d;
}

ModelSpec gmm_spec(Index K) {
  ModelSpec s;
  s.K = K;
  s.data.response_names = {"y"};
  return s;
}

}  // namespace

TEST_CASE("bootstrap SEs agree with the observed-information SEs within Monte Carlo error",
          "[bootstrap]") {
  const testing::Problem p = two_lines(300, 11);
  Model m = testing::make_model(p);
  const FitResult fit = testing::fit_em(m, p.data, 5);
  REQUIRE(fit.converged());
  const StandardErrors se = standard_errors(m, p.data);
  REQUIRE(se.warnings.empty());

  BootstrapOptions o;
  o.replicates = 200;
  o.seed = 3;
  const BootstrapResult b = bootstrap(m, p.data, o);
  CHECK(b.failed == 0);
  REQUIRE(b.draws.rows() == 200);
  // The standard deviation of B draws estimates sigma with relative standard error about
  // sqrt(1 / (2 (B - 1))) (normal draws), 0.050 for B = 200. Three of those cover the Monte
  // Carlo error; one more leaves room for the two methods' own O(n^-1/2) disagreement at
  // n = 300 (the bootstrap measures the spread at the fitted distribution, the observed
  // information its curvature at the maximum).
  const double mc = std::sqrt(1.0 / (2.0 * (o.replicates - 1)));
  const double tol = 4.0 * mc;
  std::map<std::string, Index> column;
  for (size_t c = 0; c < b.names.size(); ++c) column[b.names[c]] = static_cast<Index>(c);
  REQUIRE(b.names.size() == se.table.size());
  for (const auto& row : se.table) {
    INFO(row.parameter);
    REQUIRE(row.se.has_value());
    REQUIRE(column.count(row.parameter) == 1);
    const Index c = column.at(row.parameter);
    CHECK(b.estimate(c) == row.estimate);
    CHECK(std::abs(b.se(c) / *row.se - 1.0) <= tol);
    // The percentile interval holds the estimate and spans about 2 x 1.96 standard errors.
    CHECK(b.lower(c) < row.estimate);
    CHECK(row.estimate < b.upper(c));
    CHECK((b.upper(c) - b.lower(c)) / (2.0 * 1.959964 * *row.se) == Approx(1.0).margin(0.3));
  }

  // Merged into the Wald table: every row gains the bootstrap columns.
  std::vector<ParameterInference> table = se.table;
  merge_bootstrap(table, b);
  CHECK(table.size() == se.table.size());
  for (const auto& row : table) {
    INFO(row.parameter);
    CHECK(row.bootstrap_se.has_value());
    CHECK(row.lower.has_value());
    CHECK(row.upper.has_value());
  }
}

TEST_CASE("percentiles follow R's quantile type 7", "[bootstrap][quantile]") {
  Vector x(10);
  x << 7, 3, 10, 1, 5, 2, 9, 4, 8, 6;  // 1..10, shuffled
  // R: quantile(1:10, c(0, 0.025, 0.5, 0.975, 1)) = 1, 1.225, 5.5, 9.775, 10.
  CHECK(sample_quantile(x, 0.0) == 1.0);
  CHECK(sample_quantile(x, 0.025) == Approx(1.225));
  CHECK(sample_quantile(x, 0.5) == Approx(5.5));
  CHECK(sample_quantile(x, 0.975) == Approx(9.775));
  CHECK(sample_quantile(x, 1.0) == 10.0);
  CHECK(x(0) == 7.0);  // untouched
  CHECK_THROWS(sample_quantile(Vector(0), 0.5));
  CHECK_THROWS(sample_quantile(x, 1.5));
}

TEST_CASE("bootstrap results do not depend on the thread count", "[bootstrap][threads]") {
  const testing::Problem p = two_lines(200, 5);
  Model m = testing::make_model(p);
  testing::fit_em(m, p.data, 3);
  BootstrapOptions o;
  o.replicates = 12;
  o.seed = 9;
  o.threads = 1;
  const BootstrapResult one = bootstrap(m, p.data, o);
  o.threads = 3;
  const BootstrapResult three = bootstrap(m, p.data, o);
  CHECK(one.draws == three.draws);
  CHECK(one.se == three.se);
  o.seed = 10;
  CHECK(bootstrap(m, p.data, o).draws != one.draws);
}

TEST_CASE("bad bootstrap options name the flag", "[bootstrap][errors]") {
  const testing::Problem p = two_lines(50, 1);
  Model m = testing::make_model(p);
  testing::fit_em(m, p.data, 1);
  BootstrapOptions o;
  o.replicates = 1;
  CHECK_THROWS_WITH(bootstrap(m, p.data, o), Catch::Contains("--bootstrap"));
  LrtOptions l;
  l.replicates = 0;
  CHECK_THROWS_WITH(l.validate(), Catch::Contains("--bootstrap-lrt"));
}

TEST_CASE("resampling grouped data draws whole groups", "[bootstrap][groups]") {
  Dataset d;
  const Index n = 9;
  d.y.resize(n, 1);
  d.x = Matrix::Ones(n, 1);
  d.z = Matrix::Ones(n, 1);
  // Groups of sizes 2, 3 and 4, their rows interleaved.
  d.group = {0, 1, 2, 0, 1, 2, 1, 2, 2};
  d.group_first = {0, 1, 2};
  for (Index i = 0; i < n; ++i) d.y(i, 0) = 10.0 * static_cast<double>(d.group[i]) + i;
  Rng rng(4);
  std::set<std::vector<double>> seen;
  for (int r = 0; r < 20; ++r) {
    const Dataset s = resample(d, rng);
    REQUIRE(s.groups() == 3);
    std::vector<std::vector<double>> members(3);
    for (Index i = 0; i < s.rows(); ++i) members[s.group[i]].push_back(s.y(i, 0));
    for (Index g = 0; g < 3; ++g) {
      CHECK(s.group[s.group_first[g]] == g);
      // Every drawn group is one of the originals, complete and in row order.
      const auto source = static_cast<Index>(members[g].front() / 10.0);
      std::vector<double> whole;
      for (Index i = 0; i < n; ++i)
        if (d.group[i] == source) whole.push_back(d.y(i, 0));
      CHECK(members[g] == whole);
      seen.insert(members[g]);
    }
  }
  CHECK(seen.size() == 3);  // every group turns up in 20 draws of 3
}

TEST_CASE("bootstrap LRT: small p for a true K = 2 against 1, large against 3",
          "[bootstrap][lrt]") {
  const Dataset data = two_clusters(200, 21);
  SelectionOptions so;
  so.fit.restarts = 3;
  const Selection s = select_model(specs_for_components(gmm_spec(1), {1, 2, 3}), data, so);
  REQUIRE(s.best_candidate().label == "2");
  LrtOptions o;
  o.replicates = 49;
  o.seed = 5;
  o.fit.restarts = 2;
  const LrtResult one = bootstrap_lrt(*s.candidates[0].model, *s.candidates[1].model, data, o);
  CHECK(one.K == 1);
  // Two components fitted to one-component data can collapse at every start: such a
  // replicate is left out with a warning, and a few of them do not move the p-value much.
  CHECK(one.failed <= 2);
  CHECK(one.warnings.size() == (one.failed > 0 ? 1u : 0u));
  const auto fitted = static_cast<double>(one.replicate_statistics.size());
  CHECK(fitted == 49 - one.failed);
  // No data set simulated from one component comes near the observed statistic: the
  // smallest p-value the fitted replicates can give, 1 / (1 + fitted), about 0.02.
  CHECK(one.statistic > 20.0);
  for (double t : one.replicate_statistics) CHECK(t < one.statistic);
  CHECK(one.p_value == Approx(1.0 / (1.0 + fitted)));
  const LrtResult two = bootstrap_lrt(*s.candidates[1].model, *s.candidates[2].model, data, o);
  CHECK(two.K == 2);
  CHECK(two.failed <= 2);
  // Under the null the p-value is uniform; this seed's (fixed by the seeds) is far from small.
  CHECK(two.p_value > 0.1);
  CHECK(two.replicate_statistics.size() == static_cast<size_t>(49 - two.failed));
  // The thread count does not change the replicates.
  o.threads = 1;
  const LrtResult serial = bootstrap_lrt(*s.candidates[1].model, *s.candidates[2].model, data, o);
  CHECK(serial.replicate_statistics == two.replicate_statistics);
}
