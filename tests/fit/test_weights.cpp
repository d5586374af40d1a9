// Observation weights (--weights): a weighted fit to unique rows with counts equals the fit to
// the expanded rows (log-likelihood, parameters, score, BIC), for a Gaussian mixture, linear
// experts under a softmax gate and Poisson experts (NPreg, and bioChemists' aggregated rows);
// flexmix's weighted optimum is reached
// (tests/reference/values/weights.json); bad weights are refused naming the column.

#include "experts/regression_util.hpp"

#include "moekit/core/error.hpp"
#include "moekit/experts/poisson.hpp"
#include "moekit/infer/criteria.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace moekit;
using namespace moekit::testing;

namespace {

// Row i repeated counts[i] times.
Dataset expand(const Dataset& d, const Vector& counts) {
  Index m = 0;
  for (Index i = 0; i < counts.size(); ++i) m += static_cast<Index>(counts(i));
  Dataset e;
  e.source = d.source;
  e.y.resize(m, d.y.cols());
  e.x.resize(m, d.x.cols());
  e.z.resize(m, d.z.cols());
  Index r = 0;
  for (Index i = 0; i < counts.size(); ++i)
    for (int c = 0; c < static_cast<int>(counts(i)); ++c, ++r) {
      e.y.row(r) = d.y.row(i);
      e.x.row(r) = d.x.row(i);
      e.z.row(r) = d.z.row(i);
    }
  return e;
}

// Counts 1, 2, 3, 1, 2, 3, ... as weights of the rows.
Vector cycle_counts(Index n) {
  Vector c(n);
  for (Index i = 0; i < n; ++i) c(i) = static_cast<double>(1 + i % 3);
  return c;
}

// EM from one start on both data sets; the fits must agree to 1e-9 (parameters to
// parameter_tol, icl to icl_tol).
void check_same_fit(const Model& start,
                    const Dataset& weighted,
                    const Dataset& expanded,
                    double parameter_tol = 1e-9,
                    double icl_tol = 1e-8) {
  FitOptions o;
  o.tol = 1e-10;
  o.max_iter = 3000;
  Model a(start), b(start);
  const FitResult ra = EmFitter(o).refine(a, weighted);
  const FitResult rb = EmFitter(o).refine(b, expanded);
  CHECK(ra.iterations == rb.iterations);
  CHECK(ra.loglik == Approx(rb.loglik).epsilon(0).margin(1e-9));
  CHECK(ra.bic == Approx(rb.bic).epsilon(0).margin(1e-9));
  CHECK(ra.icl == Approx(rb.icl).epsilon(0).margin(icl_tol));
  const Vector ta = a.parameters(), tb = b.parameters();
  REQUIRE(ta.size() == tb.size());
  CHECK((ta - tb).cwiseAbs().maxCoeff() < parameter_tol);
  // The score (gradient method, standard errors) is the expanded data's too.
  Vector sa, sb;
  CHECK(a.loglik_and_score(weighted, sa) == Approx(b.loglik_and_score(expanded, sb)).margin(1e-9));
  // Rounding differs between builds (FMA, vector width, -O1 under the sanitizers): 2.5e-7
  // measured in the ASan build for the softmax-gated case; a weighting error is O(1).
  CHECK((sa - sb).cwiseAbs().maxCoeff() < 1e-6);
}

Model short_start(Model m, const Dataset& d) {
  FitOptions o;
  o.max_iter = 3;
  o.seed = 7;
  EmFitter(o).fit(m, d);
  return m;
}

}  // namespace

TEST_CASE("weights: a Gaussian mixture on rows with counts = the expanded rows", "[weights]") {
  Problem p = load_problem("faithful.csv", "", "gaussian", "constant", 2);
  p.spec.reg_covar = 1e-6;
  const Vector counts = cycle_counts(p.data.rows());
  const Dataset expanded = expand(p.data, counts);
  Dataset weighted = p.data;
  weighted.weights = counts;
  const Model start = short_start(make_model(p), weighted);
  check_same_fit(start, weighted, expanded);
  FitOptions o;
  Model m(start);
  const FitResult r = EmFitter(o).refine(m, weighted);
  // BIC's n is the sum of the weights (flexmix's nobs() with weights=).
  CHECK(r.bic == Approx(-2.0 * r.loglik + 11.0 * std::log(counts.sum())).margin(1e-9));
}

TEST_CASE("weights: linear experts under a softmax gate = the expanded rows", "[weights]") {
  Problem p = load_problem("NOdata.csv", "Equivalence ~ NO", "linear", "softmax", 2);
  const Vector counts = cycle_counts(p.data.rows());
  const Dataset expanded = expand(p.data, counts);
  Dataset weighted = p.data;
  weighted.weights = counts;
  check_same_fit(short_start(make_model(p), weighted), weighted, expanded);
}

TEST_CASE("weights: Poisson experts on NPreg with counts = the expanded rows", "[weights]") {
  // NPreg's yp ~ x, K = 2, from the same start: the log-likelihood and BIC agree to 1e-9, the
  // parameters to 5e-9 (1.1e-9 measured in Release) and ICL to 1e-7 (1.6e-8): the rounding of
  // the weighted and the expanded sums differs, and along the flattest direction of this
  // likelihood EM carries it from iteration to iteration. A tighter EM tolerance does not
  // help: near the maximum the log-likelihood changes by rounding only, so EM stops where
  // rounding stops it (at 1e-14, after 87 and 88 iterations, 2.2e-7 apart).
  Problem p = load_problem("NPreg.csv", "yp ~ x", "poisson", "constant", 2);
  const Vector counts = cycle_counts(p.data.rows());
  const Dataset expanded = expand(p.data, counts);
  Dataset weighted = p.data;
  weighted.weights = counts;
  check_same_fit(short_start(make_model(p), weighted), weighted, expanded, 5e-9, 1e-7);
}

TEST_CASE("weights: Poisson experts on bioChemists' unique rows = its 915 rows, and flexmix",
          "[weights]") {
  // The unique (art, fem, mar, kid5) rows of bioChemists with their counts
  // (tests/reference/gen/weights.R).
  const CsvTable counts_table = read_csv(dataset_path("bioChemists_counts.csv"));
  Problem agg;
  agg.spec.experts = "poisson";
  agg.spec.K = 2;
  agg.spec.data.formula = "art ~ fem + mar + kid5";
  agg.spec.data.weights_column = "count";
  agg.data = make_dataset(counts_table, agg.spec.data);
  REQUIRE(agg.data.weighted());
  CHECK(agg.data.weights.sum() == 915.0);
  CHECK(agg.spec.data.x_names.size() == 4);  // the weights are not a covariate
  Problem full =
      load_problem("bioChemists.csv", "art ~ fem + mar + kid5", "poisson", "constant", 2);
  // This EM is slow (flat likelihood): rounding differences of the sums decay only slowly
  // along the flat direction, so the parameters agree to 2e-7 (measured 3.4e-8 in Release and
  // 5.1e-8 in the ASan build) while the log-likelihood and BIC agree to 1e-9. It is not the
  // weighting nor the rows' order: the expanded rows in the aggregated rows' order give the
  // same 4.4e-8, 300 EM iterations (no stopping rule) from the same start already differ by
  // 2.3e-9, and quasi-Newton from EM's end stops with the scores 2e-5 apart. The NPreg case
  // above is the 1e-9 check for Poisson experts.
  check_same_fit(short_start(make_model(agg), agg.data), agg.data, full.data, 2e-7, 1e-5);

  // flexmix 2.3.18, flexmix(art ~ fem + mar + kid5, weights = count), best of 30 starts
  // (tests/reference/values/weights.json); its BIC takes n = sum(weights) = 915.
  constexpr double best = -1609.2442729499;
  Model m = make_model(agg);
  FitOptions o;
  o.restarts = 10;
  o.tol = 1e-12;
  const FitResult r = EmFitter(o).fit(m, agg.data);
  CHECK(r.loglik == Approx(best).epsilon(0).margin(1e-7));
  CHECK(r.bic == Approx(3279.85886249).epsilon(0).margin(1e-6));
}

TEST_CASE("weights: bad weights are refused naming the column", "[weights]") {
  auto fails = [](const std::string& csv, const std::string& formula, const std::string& needle) {
    DataSpec spec;
    spec.formula = formula;
    spec.weights_column = "w";
    try {
      make_dataset(parse_csv(csv, "t.csv"), spec);
      FAIL("accepted " << csv);
    } catch (const InputError& e) {
      CHECK_THAT(e.what(), Catch::Contains(needle));
    }
  };
  fails("y,x,w\n1,2,1\n2,3,-1\n3,1,2\n", "y ~ x", "line 3");
  fails("y,x,w\n1,2,1\n2,3,inf\n3,1,2\n", "y ~ x", "w");
  fails("y,x,w\n1,2,0\n2,3,0\n3,1,0\n", "y ~ x", "every weight is zero");
  fails("y,x,w\n1,2,a\n2,3,b\n3,1,c\n", "y ~ x", "numeric");
  fails("y,x,v\n1,2,1\n2,3,1\n3,1,2\n", "y ~ x", "no such column");
  fails("y,x,w\n1,2,1\n2,3,1\n3,1,2\n", "y ~ x + w", "not a covariate");
  fails("y,x,w,g\n1,2,1,a\n2,3,2,a\n3,1,2,b\n", "y ~ x | g", "one weight per group");
  // '.' leaves the weights out.
  DataSpec spec;
  spec.formula = "y ~ .";
  spec.weights_column = "w";
  const Dataset d = make_dataset(parse_csv("y,x,w\n1,2,1\n2,3,1\n3,1,2\n4,0,1\n", "t.csv"), spec);
  CHECK(spec.x_names == std::vector<std::string>{"(Intercept)", "x"});
  CHECK(d.weights(2) == 2.0);
}
