// Exact weighted least absolute deviations (stats/weighted_lad.hpp): against quantreg's
// Barrodale-Roberts fit, against brute force over every basic solution, the subgradient
// condition, ties, zero weights, rank deficiency, warm starts and thread invariance.

#include "moekit/core/error.hpp"
#include "moekit/core/parallel.hpp"
#include "moekit/core/rng.hpp"
#include "moekit/stats/weighted_lad.hpp"

#include <Eigen/LU>
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>

using namespace moekit;

namespace {

double lad(const Matrix& x, const Vector& y, const Vector& w, const Vector& b) {
  return (w.array() * (y - x * b).array().abs()).sum();
}

// The smallest objective over every b through p rows of x with positive weight and
// linearly independent x_i: the LP's vertices, one of which is a minimiser.
double brute_force(const Matrix& x, const Vector& y, const Vector& w) {
  const Index n = x.rows(), p = x.cols();
  double best = std::numeric_limits<double>::infinity();
  std::vector<Index> rows;
  std::function<void(Index)> visit = [&](Index from) {
    if (static_cast<Index>(rows.size()) == p) {
      Matrix XB(p, p);
      Vector yB(p);
      for (Index l = 0; l < p; ++l) {
        XB.row(l) = x.row(rows[static_cast<size_t>(l)]);
        yB(l) = y(rows[static_cast<size_t>(l)]);
      }
      const Eigen::FullPivLU<Matrix> lu(XB);
      if (lu.isInvertible()) best = std::min(best, lad(x, y, w, lu.solve(yB)));
      return;
    }
    for (Index i = from; i < n; ++i) {
      if (w(i) == 0.0) continue;
      rows.push_back(i);
      visit(i + 1);
      rows.pop_back();
    }
  };
  visit(0);
  return best;
}

// The subgradient condition at a vertex through `basis`: the multipliers
// u_B = -X_B^{-T} sum_{i not in B} w_i sign(e_i) x_i / w_B lie in [-1, 1].
double max_multiplier(const Matrix& x, const Vector& y, const Vector& w, const WeightedLad& s) {
  const Index p = x.cols();
  std::vector<char> basic(static_cast<size_t>(x.rows()), 0);
  Matrix XB(p, p);
  for (Index l = 0; l < p; ++l) {
    basic[static_cast<size_t>(s.basis[static_cast<size_t>(l)])] = 1;
    XB.row(l) = x.row(s.basis[static_cast<size_t>(l)]);
  }
  Vector v = Vector::Zero(p);
  const Vector e = y - x * s.b;
  for (Index i = 0; i < x.rows(); ++i)
    if (!basic[static_cast<size_t>(i)]) v += w(i) * (e(i) > 0 ? 1.0 : -1.0) * x.row(i).transpose();
  const Vector g = XB.transpose().fullPivLu().solve(v);
  double worst = 0.0;
  for (Index l = 0; l < p; ++l)
    worst = std::max(worst, std::abs(g(l)) / w(s.basis[static_cast<size_t>(l)]));
  return worst;
}

struct Problem {
  Matrix x;
  Vector y, w;
};

Problem random_problem(Rng& rng, Index n, Index p) {
  Problem q{Matrix(n, p), Vector(n), Vector(n)};
  for (Index i = 0; i < n; ++i) {
    q.x(i, 0) = 1.0;
    for (Index j = 1; j < p; ++j) q.x(i, j) = standard_normal(rng);
    q.y(i) = q.x.row(i).sum() + 2.0 * std::pow(standard_normal(rng), 3);
    q.w(i) = uniform01(rng);
  }
  return q;
}

}  // namespace

TEST_CASE("weighted LAD equals quantreg's Barrodale-Roberts fit", "[weighted_lad]") {
  // Data and values: tests/reference/gen/weighted_lad.R (quantreg 5.94,
  // rq(y ~ x1 + x2, tau = 0.5, weights = w, method = "br")).
  const Index n = 25;
  Matrix x(n, 3);
  Vector y(n), w(n);
  for (Index i = 1; i <= n; ++i) {
    const double di = static_cast<double>(i);
    x.row(i - 1) << 1.0, std::sin(di), std::cos(2.0 * di) * di / static_cast<double>(n);
    y(i - 1) = 1.0 + 2.0 * x(i - 1, 1) - x(i - 1, 2) + 3.0 * std::pow(std::sin(7.0 * di), 3);
    w(i - 1) = 0.2 + static_cast<double>((i * 37) % 11) / 10.0;
  }
  const Vector quantreg =
      (Vector(3) << 0.8553599374634514, 1.9683135439294697, -0.2774490083448608).finished();
  WeightedLad s;
  REQUIRE(weighted_lad(x, y, w, Vector::Zero(3), s));
  CHECK(s.optimal);
  CHECK((s.b - quantreg).cwiseAbs().maxCoeff() < 1e-12);
  CHECK(s.objective == Approx(23.041413115847178).epsilon(1e-13));
  CHECK(weighted_lad_objective(x, y, w, s.b) == Approx(s.objective).epsilon(1e-14));
}

TEST_CASE("weighted LAD reaches the best basic solution on random problems", "[weighted_lad]") {
  Rng rng(1973);
  for (int trial = 0; trial < 60; ++trial) {
    const Index p = 1 + trial % 4, n = p == 4 ? 16 : 24;
    const Problem q = random_problem(rng, n, p);
    // Starts: zero, far away, and the answer itself (a warm start: no pivot needed).
    const Vector far = Vector::Constant(p, 50.0);
    WeightedLad s, from_far, warm;
    REQUIRE(weighted_lad(q.x, q.y, q.w, Vector::Zero(p), s));
    REQUIRE(weighted_lad(q.x, q.y, q.w, far, from_far));
    REQUIRE(weighted_lad(q.x, q.y, q.w, s.b, warm));
    const double best = brute_force(q.x, q.y, q.w);
    INFO("trial " << trial << " p " << p);
    CHECK(s.optimal);
    CHECK(s.objective <= best * (1 + 1e-12));
    CHECK(lad(q.x, q.y, q.w, s.b) == Approx(best).epsilon(1e-12));
    CHECK(from_far.objective == Approx(best).epsilon(1e-12));
    CHECK(max_multiplier(q.x, q.y, q.w, s) <= 1.0 + 1e-9);
    CHECK(warm.pivots == 0);
    CHECK(warm.objective == Approx(best).epsilon(1e-12));
    // The fit interpolates its basis rows.
    for (const Index i : s.basis) CHECK(std::abs(q.y(i) - q.x.row(i).dot(s.b)) < 1e-10);
  }
}

TEST_CASE("weighted LAD with ties, duplicated rows and zero weights", "[weighted_lad]") {
  Rng rng(74);
  for (int trial = 0; trial < 30; ++trial) {
    // Integer responses on two binary covariates: many rows share a fit (degenerate LP).
    const Index n = 20, p = 3;
    Matrix x(n, p);
    Vector y(n), w(n);
    for (Index i = 0; i < n; ++i) {
      x.row(i) << 1.0, static_cast<double>(i % 2), static_cast<double>((i / 2) % 2);
      y(i) = std::floor(4.0 * uniform01(rng));
      w(i) = trial % 2 ? 1.0 : std::floor(1.0 + 3.0 * uniform01(rng));
    }
    w(3) = 0.0;  // ignored
    y(3) = 1e6;
    WeightedLad s;
    REQUIRE(weighted_lad(x, y, w, Vector::Zero(p), s));
    INFO("trial " << trial);
    CHECK(s.objective == Approx(brute_force(x, y, w)).epsilon(1e-12));
    CHECK(s.optimal);
  }
  // Zero weights: the same answer as without those rows.
  Rng rng2(9);
  const Problem q = random_problem(rng2, 30, 3);
  Vector w = q.w;
  for (Index i = 0; i < 30; i += 3) w(i) = 0.0;
  std::vector<Index> keep;
  for (Index i = 0; i < 30; ++i)
    if (w(i) > 0) keep.push_back(i);
  Matrix xs(static_cast<Index>(keep.size()), 3);
  Vector ys(xs.rows()), ws(xs.rows());
  for (Index r = 0; r < xs.rows(); ++r) {
    xs.row(r) = q.x.row(keep[static_cast<size_t>(r)]);
    ys(r) = q.y(keep[static_cast<size_t>(r)]);
    ws(r) = w(keep[static_cast<size_t>(r)]);
  }
  WeightedLad all, kept;
  REQUIRE(weighted_lad(q.x, q.y, w, Vector::Zero(3), all));
  REQUIRE(weighted_lad(xs, ys, ws, Vector::Zero(3), kept));
  CHECK(all.objective == Approx(kept.objective).epsilon(1e-13));
  CHECK((all.b - kept.b).cwiseAbs().maxCoeff() < 1e-10);
  for (const Index i : all.basis) CHECK(w(i) > 0);
}

TEST_CASE("weighted LAD reports rank deficiency and bad weights", "[weighted_lad]") {
  Rng rng(3);
  Problem q = random_problem(rng, 20, 3);
  WeightedLad s;
  s.pivots = -7;
  Matrix aliased = q.x;
  aliased.col(2) = 2.0 * aliased.col(1);  // a column in the span of the others
  CHECK_FALSE(weighted_lad(aliased, q.y, q.w, Vector::Zero(3), s));
  Vector two_rows = Vector::Zero(20);  // weight on fewer rows than columns
  two_rows(4) = two_rows(9) = 1.0;
  CHECK_FALSE(weighted_lad(q.x, q.y, two_rows, Vector::Zero(3), s));
  CHECK(s.pivots == -7);  // untouched
  Vector negative = q.w;
  negative(5) = -0.1;
  CHECK_THROWS_WITH(weighted_lad(q.x, q.y, negative, Vector::Zero(3), s),
                    Catch::Matchers::Contains("row 6"));
  negative(5) = std::nan("");
  CHECK_THROWS_AS(weighted_lad(q.x, q.y, negative, Vector::Zero(3), s), Error);
}

TEST_CASE("weighted LAD is the same for 1 and 2 threads and certifies large problems",
          "[weighted_lad]") {
  Rng rng(2);
  const Index n = 20000, p = 4;  // about ten row blocks
  const Problem q = random_problem(rng, n, p);
  WeightedLad one, two;
  {
    ScopedNumThreads t(1);
    REQUIRE(weighted_lad(q.x, q.y, q.w, Vector::Zero(p), one));
  }
  {
    ScopedNumThreads t(2);
    REQUIRE(weighted_lad(q.x, q.y, q.w, Vector::Zero(p), two));
  }
  CHECK(one.b == two.b);
  CHECK(one.objective == two.objective);
  CHECK(one.basis == two.basis);
  CHECK(one.optimal);
  CHECK(max_multiplier(q.x, q.y, q.w, one) <= 1.0 + 1e-9);
  // No coordinate step from the fit lowers the objective.
  for (Index j = 0; j < p; ++j)
    for (const double h : {-1e-6, 1e-6}) {
      Vector b = one.b;
      b(j) += h;
      CHECK(lad(q.x, q.y, q.w, b) >= one.objective * (1 - 1e-13));
    }
}

// An EM M-step hands the previous M-step's basis and b back: the vertex through that basis is
// b itself, its objective equal to f(b) up to the rounding of the two sums (e_i set to 0 on
// the fit in one, not in the other). Compared exactly, about a third of such starts were
// refused on large problems, and each began again with p serial line searches.
TEST_CASE("weighted LAD takes the warm start at its own answer on large problems",
          "[weighted_lad]") {
  Rng rng(11);
  for (int trial = 0; trial < 12; ++trial) {
    const Index n = 20000, p = 3;
    const Problem q = random_problem(rng, n, p);
    WeightedLad s, again;
    REQUIRE(weighted_lad(q.x, q.y, q.w, Vector::Zero(p), s));
    CHECK_FALSE(s.warm);
    REQUIRE(weighted_lad(q.x, q.y, q.w, s.b, again, s.basis));
    INFO("trial " << trial);
    CHECK(again.warm);
    CHECK(again.pivots == 0);
    CHECK(again.basis == s.basis);
    CHECK(again.objective <= s.objective * (1 + 1e-12));
  }
}
