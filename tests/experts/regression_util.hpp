#pragma once
// Helpers for the regression-expert and gate tests: data sets from datasets/ through the
// formula layer, models from a spec, EM with restarts, and finite differences.

#include "moekit/data/csv.hpp"
#include "moekit/data/dataset.hpp"
#include "moekit/fit/em.hpp"
#include "moekit/model/model.hpp"

#include <string>

namespace moekit::testing {

struct Problem {
  ModelSpec spec;
  Dataset data;
};

inline std::string dataset_path(const std::string& name) {
  return std::string(MOEKIT_DATASETS_DIR) + "/" + name;
}

inline Problem make_problem(const CsvTable& table,
                            const std::string& formula,
                            const std::string& experts,
                            const std::string& gate,
                            Index K,
                            const std::string& gate_formula = "") {
  Problem p;
  p.spec.experts = experts;
  p.spec.gate = gate;
  p.spec.K = K;
  // The CLI's default reg_covar: a variance floor relative to var(y), which leaves the
  // peers' (unregularised) proper maxima exactly where they are (docs/math/objective.md).
  p.spec.data.formula = formula;
  p.spec.data.gate_formula = gate_formula;
  p.spec.data.categorical_response = experts == "logistic";
  p.data = make_dataset(table, p.spec.data);
  return p;
}

inline Problem load_problem(const std::string& file,
                            const std::string& formula,
                            const std::string& experts,
                            const std::string& gate,
                            Index K,
                            const std::string& gate_formula = "") {
  return make_problem(read_csv(dataset_path(file)), formula, experts, gate, K, gate_formula);
}

inline Model make_model(const Problem& p) {
  return Model(p.spec, p.data.y.cols(), p.data.x.cols(), p.data.z.cols());
}

// Random soft starts by default: k-means on [x, x^2, y] splits NPreg along x instead of
// along the two curves, and the peers (flexmix, mixtools) start from random partitions too.
inline FitResult fit_em(Model& m,
                        const Dataset& d,
                        int restarts,
                        std::uint64_t seed = 1,
                        int max_iter = 2000,
                        InitMethod init = InitMethod::Random) {
  FitOptions o;
  o.init = init;
  o.restarts = restarts;
  o.seed = seed;
  o.max_iter = max_iter;
  o.tol = 1e-10;
  return EmFitter(o).fit(m, d);
}

// Central differences of f at theta, step h scaled to each coordinate.
template <typename F>
Vector numeric_gradient(F f, const Vector& theta, double h = 1e-5) {
  Vector g(theta.size());
  for (Index j = 0; j < theta.size(); ++j) {
    Vector a = theta, b = theta;
    const double s = h * std::max(1.0, std::abs(theta(j)));
    a(j) += s;
    b(j) -= s;
    g(j) = (f(a) - f(b)) / (2.0 * s);
  }
  return g;
}

// Central differences of the experts' weighted log-likelihood sum_ik resp_ik log p_k(y_i | x_i)
// in their parameters(): what score() must return.
inline Vector numeric_expert_score(
    const Experts& e, const Matrix& x, const Matrix& y, const Matrix& resp, double h = 1e-6) {
  auto objective = [&](const Vector& theta) {
    auto c = e.clone();
    c->set_parameters(theta);
    Matrix ld(x.rows(), e.components());
    c->log_density(x, y, ld);
    return (ld.array() * resp.array()).sum();
  };
  return numeric_gradient(objective, e.parameters(), h);
}

}  // namespace moekit::testing
