// The softmax gate: its M-step, the L2 penalty, the model file, parameter recovery of a
// softmax-gated MoE of three linear experts, and the adaptive mixture of local experts of
// Jacobs, Jordan, Nowlan & Hinton (1991) (Gaussian experts, softmax gate in x).

#include "experts/regression_util.hpp"
#include "moekit/core/error.hpp"
#include "moekit/core/process_sums.hpp"
#include "moekit/core/rng.hpp"
#include "moekit/experts/gaussian.hpp"
#include "moekit/experts/linear.hpp"
#include "moekit/gates/softmax.hpp"
#include "moekit/infer/predict.hpp"
#include "moekit/model/model_json.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>

using namespace moekit;

namespace {

// Draws a component per row from softmax(z V), V = [0, V2, ..., VK] (r x K).
std::vector<Index> draw_gate(const Matrix& z, const Matrix& V, Rng& rng) {
  std::vector<Index> k(static_cast<size_t>(z.rows()));
  for (Index i = 0; i < z.rows(); ++i) {
    const Vector eta = (z.row(i) * V).transpose();
    const Vector w = (eta.array() - eta.maxCoeff()).exp();
    double u = uniform01(rng) * w.sum(), acc = 0.0;
    Index c = 0;
    for (; c < w.size() - 1; ++c) {
      acc += w(c);
      if (u < acc) break;
    }
    k[static_cast<size_t>(i)] = c;
  }
  return k;
}

}  // namespace

TEST_CASE("softmax gate M-step maximises the weighted multinomial likelihood", "[softmax]") {
  Rng rng(21);
  const Index n = 200, K = 3;
  Matrix z(n, 2);
  Matrix resp(n, K);
  for (Index i = 0; i < n; ++i) {
    z(i, 0) = 1.0;
    z(i, 1) = standard_normal(rng);
    for (Index k = 0; k < K; ++k)
      resp(i, k) = uniform01(rng) + (k == 1 ? std::max(0.0, z(i, 1)) : 0.0);
    resp.row(i) /= resp.row(i).sum();
  }
  SoftmaxGate g(K, 2);
  g.fit(z, resp);
  CHECK(g.score(z, resp).cwiseAbs().maxCoeff() < 1e-8);
  // With an intercept the fitted gate reproduces the total responsibility of each expert.
  Matrix lw(n, K);
  g.log_weights(z, lw);
  const Vector fitted = lw.array().exp().colwise().sum().transpose();
  const Vector target = resp.colwise().sum().transpose();
  CHECK((fitted - target).cwiseAbs().maxCoeff() < 1e-6);
}

TEST_CASE("softmax gate M-step sums its Newton steps over the processes sharing the rows",
          "[softmax][processes]") {
  // Two processes holding the same rows, as one process sees them: every sum doubles, every
  // maximum stays. The fit must then be the fit of the rows stacked twice, which the ridge
  // penalty (not doubled) tells apart from the fit of the rows once.
  struct TwoAlike final : ProcessReduction {
    void sum(double* v, Index count) const override {
      for (Index j = 0; j < count; ++j) v[j] *= 2.0;
      ++calls;
    }
    void max(double*, Index) const override {}
    mutable int calls = 0;
  };
  Rng rng(5);
  const Index n = 150, K = 3;
  Matrix z(n, 2), resp(n, K);
  for (Index i = 0; i < n; ++i) {
    z(i, 0) = 1.0;
    z(i, 1) = standard_normal(rng);
    for (Index k = 0; k < K; ++k) resp(i, k) = uniform01(rng) + (k == 2 ? z(i, 1) * z(i, 1) : 0.0);
    resp.row(i) /= resp.row(i).sum();
  }
  Matrix z2(2 * n, 2), resp2(2 * n, K);
  z2 << z, z;
  resp2 << resp, resp;
  const double ridge = 20.0;
  SoftmaxGate stacked(K, 2, ridge), shared(K, 2, ridge);
  stacked.fit(z2, resp2);
  const TwoAlike two;
  {
    const ScopedProcessSums scope(&two);
    shared.fit(z, resp);
  }
  CHECK(two.calls > 1);  // once per Newton evaluation
  const Vector a = stacked.parameters(), b = shared.parameters();
  CHECK((a - b).cwiseAbs().maxCoeff() < 1e-10 * std::max(1.0, a.cwiseAbs().maxCoeff()));
  // Outside the scope the rows are all the rows again.
  const int calls = two.calls;
  SoftmaxGate alone(K, 2, ridge);
  alone.fit(z, resp);
  CHECK(two.calls == calls);
  CHECK((alone.parameters() - a).cwiseAbs().maxCoeff() > 1e-3);
}

TEST_CASE("softmax gate ridge keeps separable responsibilities finite", "[softmax][ridge]") {
  const Index n = 40;
  Matrix z(n, 2), resp(n, 2);
  for (Index i = 0; i < n; ++i) {
    z(i, 0) = 1.0;
    z(i, 1) = static_cast<double>(i) - 19.5;
    resp(i, 0) = z(i, 1) < 0 ? 1.0 : 0.0;  // perfectly separated at 0
    resp(i, 1) = 1.0 - resp(i, 0);
  }
  SoftmaxGate plain(2, 2), ridged(2, 2, 0.1);
  const auto w_plain = plain.fit(z, resp);
  const auto w_ridged = ridged.fit(z, resp);
  CHECK(ridged.coefficients().allFinite());
  CHECK(std::abs(ridged.coefficients()(1, 0)) < 10.0);
  // Without the ridge the slope runs off and a warning says so.
  CHECK(std::abs(plain.coefficients()(1, 0)) > std::abs(ridged.coefficients()(1, 0)));
  REQUIRE(w_plain.size() == 1);
  CHECK(w_plain[0].find("--gate-ridge") != std::string::npos);
  CHECK(w_ridged.empty());
  // The penalised fit is a stationary point of Q - ridge/2 |v|^2.
  const Vector s = ridged.score(z, resp) - 0.1 * ridged.parameters();
  CHECK(s.cwiseAbs().maxCoeff() < 1e-7);
}

TEST_CASE("softmax gate round-trips through the model file and rejects bad shapes",
          "[softmax][json]") {
  auto p = testing::load_problem("NOdata.csv", "Equivalence ~ NO", "linear", "softmax", 2);
  p.spec.gate_ridge = 1e-3;
  Model m = testing::make_model(p);
  testing::fit_em(m, p.data, 2);
  const std::string text = model_to_json(m, nullptr);
  const Model back = model_from_json(text, "memory");
  CHECK(back.gate().kind() == "softmax");
  CHECK(back.spec().gate_ridge == 1e-3);
  CHECK((predict_gate(m, p.data) - predict_gate(back, p.data)).cwiseAbs().maxCoeff() < 1e-12);
  SoftmaxGate g(2, 2);
  CHECK_THROWS_AS(g.set_params({{"coefficients", Matrix::Zero(3, 2)}}), ModelFormatError);
  CHECK_THROWS_AS(SoftmaxGate(2, 2, -1.0), InputError);
}

TEST_CASE("softmax-gated MoE of three linear experts recovers its parameters (n = 1e4)",
          "[softmax][recovery]") {
  Rng rng(2024);
  const Index n = 10000, K = 3;
  Matrix x(n, 2);
  for (Index i = 0; i < n; ++i) {
    x(i, 0) = 1.0;
    x(i, 1) = 6.0 * uniform01(rng) - 3.0;
  }
  // Gate: expert 1 on the left, 3 on the right, 2 in the middle.
  const Matrix V = (Matrix(2, 3) << 0.0, 2.0, 0.0, 0.0, 3.0, 6.0).finished();
  const Matrix B =
      (Matrix(2, 3) << 1.0, 0.0, -2.0, -1.0, 2.0, 0.5).finished();  // column k: (b0, b1)
  const Vector sd = (Vector(3) << 0.3, 0.5, 0.2).finished();
  const std::vector<Index> k = draw_gate(x, V, rng);
  Dataset d;
  d.x = x;
  d.z = x;
  d.y.resize(n, 1);
  for (Index i = 0; i < n; ++i) {
    const Index c = k[static_cast<size_t>(i)];
    d.y(i, 0) = x.row(i).dot(B.col(c)) + sd(c) * standard_normal(rng);
  }
  ModelSpec s;
  s.experts = "linear";
  s.gate = "softmax";
  s.K = K;
  Model m(s, 1, 2, 2);
  // k-means on [x, y] separates the three lines well; two starts keep the test fast.
  FitOptions o;
  o.restarts = 2;
  o.tol = 1e-8;
  const FitResult r = EmFitter(o).fit(m, d);
  CHECK(r.converged());
  const auto& e = dynamic_cast<const LinearExperts&>(m.experts());
  // Label permutation: match each true expert to the fitted one with the closest slope/intercept.
  std::vector<Index> perm(K);
  for (Index t = 0; t < K; ++t) {
    Index best = 0;
    for (Index j = 1; j < K; ++j)
      if ((e.coefficients(j).col(0) - B.col(t)).norm() <
          (e.coefficients(best).col(0) - B.col(t)).norm())
        best = j;
    perm[static_cast<size_t>(t)] = best;
  }
  std::vector<Index> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  REQUIRE(sorted == std::vector<Index>({0, 1, 2}));
  for (Index t = 0; t < K; ++t) {
    const Index j = perm[static_cast<size_t>(t)];
    INFO("expert " << t + 1);
    // Tolerances: about 5 standard errors at n = 1e4.
    CHECK((e.coefficients(j).col(0) - B.col(t)).cwiseAbs().maxCoeff() < 0.05);
    CHECK(std::sqrt(e.covariances().covariance(j)(0, 0)) == Approx(sd(t)).epsilon(0.05));
  }
  // Gate: compare differences to the reference expert (invariant to the fitted reference).
  const auto& g = dynamic_cast<const SoftmaxGate&>(m.gate());
  Matrix Vfit(2, K);
  Vfit.col(0).setZero();
  Vfit.rightCols(K - 1) = g.coefficients();
  for (Index t = 1; t < K; ++t) {
    const Vector diff = Vfit.col(perm[static_cast<size_t>(t)]) - Vfit.col(perm[0]);
    INFO("gate of expert " << t + 1 << ": " << diff.transpose());
    CHECK((diff - V.col(t)).cwiseAbs().maxCoeff() <
          0.25 * std::max(1.0, V.col(t).cwiseAbs().maxCoeff()));
  }
}

TEST_CASE(
    "adaptive mixture of local experts (Jacobs et al. 1991): Gaussian experts, softmax gate in x",
    "[softmax][gaussian]") {
  // The gate splits x at 0; each expert predicts a constant there.
  Rng rng(1991);
  const Index n = 2000;
  Matrix x(n, 2), y(n, 1);
  const Matrix V = (Matrix(2, 2) << 0.0, 0.0, 0.0, 4.0).finished();
  for (Index i = 0; i < n; ++i) {
    x(i, 0) = 1.0;
    x(i, 1) = 4.0 * uniform01(rng) - 2.0;
  }
  const std::vector<Index> k = draw_gate(x, V, rng);
  for (Index i = 0; i < n; ++i)
    y(i, 0) = (k[static_cast<size_t>(i)] == 0 ? -2.0 : 3.0) + 0.5 * standard_normal(rng);
  Dataset d;
  d.y = y;
  d.x = Matrix::Ones(n, 1);
  d.z = x;
  ModelSpec s;
  s.experts = "gaussian";
  s.gate = "softmax";
  s.K = 2;
  Model m(s, 1, 1, 2);
  ModelSpec mix = s;
  mix.gate = "constant";
  Model plain(mix, 1, 1, 2);
  const FitResult r = testing::fit_em(m, d, 2);
  const FitResult rp = testing::fit_em(plain, d, 2);
  CHECK(r.loglik > rp.loglik + 10.0);  // the gate in x explains which expert applies
  const auto& e = dynamic_cast<const GaussianExperts&>(m.experts());
  const Index hi = e.means()(0, 0) > e.means()(1, 0) ? 0 : 1;
  CHECK(e.means()(hi, 0) == Approx(3.0).margin(0.1));
  CHECK(e.means()(1 - hi, 0) == Approx(-2.0).margin(0.1));
  const auto& g = dynamic_cast<const SoftmaxGate&>(m.gate());
  const double slope = (hi == 1 ? 1.0 : -1.0) * g.coefficients()(1, 0);
  CHECK(slope == Approx(4.0).epsilon(0.25));
  // Hard prediction follows the gate: x > 0 goes to the high expert.
  const Matrix gate = predict_gate(m, d);
  Index agree = 0;
  for (Index i = 0; i < n; ++i) agree += ((gate(i, hi) > 0.5) == (x(i, 1) > 0)) ? 1 : 0;
  CHECK(agree > n * 95 / 100);
}
