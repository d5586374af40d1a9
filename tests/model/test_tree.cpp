// The gating tree: the E-step's passes, the M-step, EM's monotonicity and the score on
// random trees; a constant-gated tree equals the flat mixture; a simulated depth-2 HME is
// recovered.

#include "experts/regression_util.hpp"
#include "support/hme_simulate.hpp"

#include "moekit/core/error.hpp"
#include "moekit/fit/em.hpp"
#include "moekit/gates/constant.hpp"
#include "moekit/gates/softmax.hpp"
#include "moekit/infer/predict.hpp"
#include "moekit/infer/simulate.hpp"
#include "moekit/model/model.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>

using namespace moekit;

namespace {

// A data set of one covariate x (with intercept) and one response.
Dataset xy_dataset(const Vector& x, const Vector& y) {
  Dataset d;
  d.x.resize(x.size(), 2);
  d.x.col(0).setOnes();
  d.x.col(1) = x;
  d.z = d.x;
  d.y = y;
  return d;
}

ModelSpec tree_spec(const std::string& experts, const std::string& gate, const TreeShape& shape) {
  ModelSpec s;
  s.experts = experts;
  s.gate = gate;
  s.set_shape(shape);
  s.reg_covar = 0.0;
  s.data.x_names = {"(Intercept)", "x"};
  s.data.z_names = {"(Intercept)", "x"};
  return s;
}

// The loglik of a model by brute force: sum_i log sum_k g_k(z_i) p_k(y_i | x_i), with the
// leaf weights as the product of gate probabilities along each path.
double brute_force_loglik(const Model& m, const Dataset& d) {
  const TreeShape& t = m.tree();
  Matrix dens(d.rows(), m.components());
  m.experts().log_density(d.x, d.y, dens);
  Matrix logw = Matrix::Zero(d.rows(), m.components());
  for (Index k = 0; k < m.components(); ++k) {
    Index node = t.leaf_node(k);
    while (node > 0) {
      const Index parent = t.parent(node);
      Matrix lw(d.rows(), t.children(parent));
      m.gate(parent).log_weights(d.z, lw);
      logw.col(k) += lw.col(node - t.first_child(parent));
      node = parent;
    }
  }
  double ll = 0.0;
  for (Index i = 0; i < d.rows(); ++i) {
    const RowVector a = logw.row(i) + dens.row(i);
    const double mx = a.maxCoeff();
    ll += mx + std::log((a.array() - mx).exp().sum());
  }
  return ll;
}

// Random parameters in the model's own unconstrained layout.
void randomise(Model& m, Rng& rng, double scale = 0.5) {
  Vector theta = m.parameters();
  for (Index j = 0; j < theta.size(); ++j) theta(j) += scale * standard_normal(rng);
  m.set_parameters(theta);
}

// Three noisy lines in x on [-2, 2].
Dataset three_lines(Index n, Rng& rng) {
  Vector x(n), y(n);
  for (Index i = 0; i < n; ++i) {
    x(i) = -2.0 + 4.0 * uniform01(rng);
    const auto k = static_cast<int>(3.0 * uniform01(rng));
    y(i) = (k == 0   ? 1.0 + x(i)
            : k == 1 ? -1.0 - 0.5 * x(i)
                     : 0.3 * x(i) * x(i)) +
           0.3 * standard_normal(rng);
  }
  return xy_dataset(x, y);
}

}  // namespace

TEST_CASE("tree E-step: posteriors and log-likelihood agree with brute force", "[tree]") {
  Rng rng(11);
  const Dataset d = three_lines(300, rng);
  for (const char* gate : {"softmax", "constant", "gaussian"})
    for (const char* shape : {"3", "2,2", "2,3", "3,2", "2,2,2"}) {
      CAPTURE(gate, shape);
      Model m(tree_spec("linear", gate, TreeShape::parse(shape)), 1, 2, 2);
      // A first M-step from random responsibilities gives every gate valid parameters.
      Matrix r(d.rows(), m.components());
      for (Index i = 0; i < r.rows(); ++i)
        for (Index k = 0; k < r.cols(); ++k) r(i, k) = uniform01(rng) + 0.05;
      r.array().colwise() /= r.rowwise().sum().array();
      m.m_step(d, m.posteriors_from_leaves(r));
      randomise(m, rng, 0.3);
      Posteriors p;
      m.e_step(d, p);
      CHECK(p.loglik == Approx(brute_force_loglik(m, d)).epsilon(1e-12));
      // Leaf posteriors sum to one; each inner node's posterior is the sum of its children's.
      CHECK((p.leaves().rowwise().sum().array() - 1.0).abs().maxCoeff() < 1e-12);
      const TreeShape& t = m.tree();
      for (Index v = 1; v < t.inner_nodes(); ++v) {
        const Vector sum = p.nodes.middleCols(t.first_child(v) - 1, t.children(v)).rowwise().sum();
        CHECK((sum - p.nodes.col(v - 1)).cwiseAbs().maxCoeff() < 1e-12);
      }
      // Gate weights of the leaves are the products along the paths and sum to one.
      const Matrix g = m.leaf_weights(d.z);
      CHECK((g.rowwise().sum().array() - 1.0).abs().maxCoeff() < 1e-12);
      if (std::string(gate) != "gaussian") CHECK(p.objective == p.loglik);
    }
}

TEST_CASE("a tree of constant gates is the flat mixture with the products as weights", "[tree]") {
  auto p = testing::load_problem("mcycle.csv", "accel ~ times", "linear", "constant", 4);
  p.spec.reg_covar = 1e-6;  // the CLI's default
  ModelSpec tree = p.spec;
  tree.set_shape(TreeShape::parse("2,2"));
  Model flat(p.spec, 1, p.data.x.cols(), p.data.z.cols());
  Model hme(tree, 1, p.data.x.cols(), p.data.z.cols());
  FitOptions o;
  o.restarts = 4;
  o.seed = 3;
  // EM's paths are compared; split-and-merge moves, whose choice among equal candidates
  // turns on rounding, are off (the CLI tests fit both with them: test_cli_tree.cpp).
  o.split_merge = 0;
  const FitResult a = EmFitter(o).fit(flat, p.data);
  const FitResult b = EmFitter(o).fit(hme, p.data);
  // The same starts give the same EM path: every leaf's weight is N_k / n either way.
  CHECK(b.loglik == Approx(a.loglik).epsilon(1e-10));
  CHECK(b.iterations == a.iterations);
  CHECK(b.n_params == a.n_params);  // gate parameters: 1 + 2 x 1 = K - 1
  const Matrix ga = flat.leaf_weights(p.data.z), gb = hme.leaf_weights(p.data.z);
  CHECK((ga - gb).cwiseAbs().maxCoeff() < 1e-8);
}

TEST_CASE("EM never decreases its objective on random trees", "[tree][monotone]") {
  const std::array<const char*, 6> shapes{"2", "3", "2,2", "2,3", "3,2", "2,2,2"};
  const std::array<const char*, 3> gates{"constant", "softmax", "gaussian"};
  const std::array<const char*, 3> experts{"linear", "gaussian", "t"};
  int checked = 0, worst_iteration = 0;
  double worst = 0.0;
  for (int trial = 0; trial < 200; ++trial) {
    Rng rng(1000 + static_cast<std::uint64_t>(trial));
    const Dataset d = three_lines(120 + 10 * (trial % 7), rng);
    ModelSpec s = tree_spec(experts[static_cast<size_t>(trial % 3)],
                            gates[static_cast<size_t>((trial / 3) % 3)],
                            TreeShape::parse(shapes[static_cast<size_t>((trial / 9) % 6)]));
    s.collapse_tol = 1e-6;
    Model m(s, 1, 2, 2);
    FitOptions o;
    o.max_iter = 25;
    o.tol = 1e-300;     // every iteration
    o.split_merge = 0;  // EM's own trace
    o.seed = static_cast<std::uint64_t>(trial);
    o.init = trial % 2 ? InitMethod::Random : InitMethod::KMeansPlusPlus;
    FitResult r;
    try {
      r = EmFitter(o).fit(m, d);
    } catch (const NumericalError&) {
      continue;  // a start that cannot be fitted says so; monotonicity is about the others
    }
    ++checked;
    for (size_t t = 1; t < r.loglik_trace.size(); ++t) {
      const int it = static_cast<int>(t);
      if (std::find(r.reseed_iterations.begin(), r.reseed_iterations.end(), it) !=
          r.reseed_iterations.end())
        continue;
      const double drop =
          (r.loglik_trace[t - 1] - r.loglik_trace[t]) / std::max(1.0, std::abs(r.loglik_trace[t]));
      if (drop > worst) {
        worst = drop;
        worst_iteration = it;
      }
    }
  }
  CAPTURE(worst_iteration);
  CHECK(checked >= 190);
  CHECK(worst <= 1e-10);
}

TEST_CASE("the tree's score matches finite differences of its objective", "[tree][score]") {
  Rng rng(5);
  const Dataset d = three_lines(200, rng);
  for (const char* gate : {"softmax", "gaussian", "constant"})
    for (const char* experts : {"linear", "gaussian"})
      for (const char* shape : {"2,2", "3,2"}) {
        CAPTURE(gate, experts, shape);
        Model m(tree_spec(experts, gate, TreeShape::parse(shape)), 1, 2, 2);
        FitOptions o;
        o.max_iter = 5;
        o.seed = 2;
        EmFitter(o).fit(m, d);
        randomise(m, rng, 0.1);
        Vector score;
        const double f0 = m.loglik_and_score(d, score);
        Posteriors p;
        m.e_step(d, p);
        CHECK(f0 == Approx(p.objective).epsilon(1e-14));
        const Vector theta = m.parameters();
        const Vector fd = testing::numeric_gradient(
            [&](const Vector& t) {
              Model c(m);
              c.set_parameters(t);
              Posteriors q;
              c.e_step(d, q);
              return q.objective;
            },
            theta);
        CHECK((score - fd).cwiseAbs().maxCoeff() <= 1e-5 * std::max(1.0, fd.cwiseAbs().maxCoeff()));
      }
}

TEST_CASE("a simulated depth-2 softmax HME is recovered", "[tree][recovery]") {
  testing::TwoLevelHme truth;
  truth.root = {0.0, 3.0};                   // x < 0 goes left
  truth.node = {{{4.5, 3.0}, {-4.5, 3.0}}};  // splits at x = -1.5 and x = 1.5
  truth.line = {{{1.0, 2.0}, {-1.0, -1.0}, {2.0, 0.5}, {-2.0, 1.5}}};
  truth.sigma = {0.3, 0.25, 0.2, 0.35};
  Rng rng(2024);
  const auto sample = testing::simulate_hme(truth, 4000, -3.0, 3.0, rng);
  const Dataset d = xy_dataset(sample.x, sample.y);

  ModelSpec s = tree_spec("linear", "softmax", TreeShape::parse("2,2"));
  s.reg_covar = 1e-6;
  // The model at the true parameters.
  Model at_truth(s, 1, 2, 2);
  {
    std::vector<ParameterMap> comps(4);
    for (size_t k = 0; k < 4; ++k) {
      Matrix B(2, 1);
      B << truth.line[k][0], truth.line[k][1];
      comps[k]["coefficients"] = B;
      comps[k]["covariance"] = Matrix::Constant(1, 1, truth.sigma[k] * truth.sigma[k]);
    }
    at_truth.experts().set_params(comps, {});
    auto gate = [](const std::array<double, 2>& g) {
      Matrix V(2, 2);
      V << 0.0, g[0], 0.0, g[1];
      return ParameterMap{{"coefficients", V}};
    };
    at_truth.gate(0).set_params(gate(truth.root));
    at_truth.gate(1).set_params(gate(truth.node[0]));
    at_truth.gate(2).set_params(gate(truth.node[1]));
  }
  Posteriors p_truth;
  at_truth.e_step(d, p_truth);
  // Our E-step at the truth agrees with the generator's own gate weights.
  CHECK((at_truth.leaf_weights(d.z) - testing::hme_leaf_weights(truth, sample.x))
            .cwiseAbs()
            .maxCoeff() < 1e-12);

  Model m(s, 1, 2, 2);
  FitOptions o;
  o.restarts = 10;
  o.seed = 1;
  o.split_merge = 0;  // the starts alone reach the truth's basin here
  const FitResult r = EmFitter(o).fit(m, d);
  CHECK(r.loglik >= p_truth.loglik);

  // Match leaves up to the tree's symmetries (swap the root's branches, swap within each).
  std::array<Index, 4> best_perm{};
  double best_err = 1e300;
  for (int swap_root = 0; swap_root < 2; ++swap_root)
    for (int swap_a = 0; swap_a < 2; ++swap_a)
      for (int swap_b = 0; swap_b < 2; ++swap_b) {
        std::array<Index, 4> perm{};  // perm[true leaf] = fitted leaf
        for (int a = 0; a < 2; ++a)
          for (int b = 0; b < 2; ++b) {
            const int fa = a ^ swap_root;
            const int fb = b ^ (fa == 0 ? swap_a : swap_b);
            perm[static_cast<size_t>(2 * a + b)] = 2 * fa + fb;
          }
        const auto comps = m.experts().component_params();
        double err = 0.0;
        for (size_t k = 0; k < 4; ++k) {
          const Matrix& B = comps[static_cast<size_t>(perm[k])].at("coefficients");
          err += std::abs(B(0, 0) - truth.line[k][0]) + std::abs(B(1, 0) - truth.line[k][1]);
        }
        if (err < best_err) {
          best_err = err;
          best_perm = perm;
        }
      }
  const auto comps = m.experts().component_params();
  for (size_t k = 0; k < 4; ++k) {
    CAPTURE(k);
    const ParameterMap& c = comps[static_cast<size_t>(best_perm[k])];
    CHECK(c.at("coefficients")(0, 0) == Approx(truth.line[k][0]).margin(0.1));
    CHECK(c.at("coefficients")(1, 0) == Approx(truth.line[k][1]).margin(0.1));
    CHECK(std::sqrt(c.at("covariance")(0, 0)) == Approx(truth.sigma[k]).margin(0.04));
  }
  // Gates: the fitted leaf weights, permuted, within 0.08 of the true ones everywhere on a grid.
  Vector grid = Vector::LinSpaced(61, -3.0, 3.0);
  const Dataset g = xy_dataset(grid, Vector::Zero(61));
  const Matrix fitted = m.leaf_weights(g.z), want = testing::hme_leaf_weights(truth, grid);
  double gate_err = 0.0;
  for (size_t k = 0; k < 4; ++k)
    gate_err = std::max(
        gate_err,
        (fitted.col(best_perm[k]) - want.col(static_cast<Index>(k))).cwiseAbs().maxCoeff());
  CHECK(gate_err < 0.08);

  // The model's own simulate draws leaves by the product of the gates: the share of rows
  // drawn from each leaf matches the expected weights.
  Rng draw(7);
  const Simulation sim = simulate(m, d, draw);
  Vector count = Vector::Zero(4);
  for (Index k : sim.component) count(k) += 1.0;
  const Vector expected = m.leaf_weights(d.z).colwise().sum().transpose();
  CHECK((count - expected).cwiseAbs().maxCoeff() < 4.0 * std::sqrt(4000.0 * 0.25));
}

TEST_CASE("tree M-step: gates below the root are fitted to their own branch", "[tree]") {
  Rng rng(3);
  const Dataset d = three_lines(400, rng);
  Model m(tree_spec("linear", "constant", TreeShape::parse("2,2")), 1, 2, 2);
  Matrix r = Matrix::Zero(d.rows(), 4);
  for (Index i = 0; i < d.rows(); ++i) r(i, i % 4) = 1.0;
  r.topRows(40).setZero();
  r.topRows(40).col(0).setOnes();  // leaf 1 gets 40 extra rows
  m.m_step(d, m.posteriors_from_leaves(r));
  const auto& root = dynamic_cast<const ConstantGate&>(m.gate(0));
  const auto& left = dynamic_cast<const ConstantGate&>(m.gate(1));
  const Vector N = r.colwise().sum().transpose();
  CHECK(root.weights()(0) == Approx((N(0) + N(1)) / N.sum()));
  CHECK(left.weights()(0) == Approx(N(0) / (N(0) + N(1))));
  // Re-seeding leaf 4 resets its weight in its own gate (node 2), not in the root.
  const Vector before = root.weights();
  Vector right = dynamic_cast<const ConstantGate&>(m.gate(2)).weights();
  m.reseed_leaf(3, d, 0);
  CHECK(root.weights() == before);
  right(1) = 0.5;  // a fair share again
  right /= right.sum();
  CHECK((dynamic_cast<const ConstantGate&>(m.gate(2)).weights() - right).cwiseAbs().maxCoeff() <
        1e-15);
}
