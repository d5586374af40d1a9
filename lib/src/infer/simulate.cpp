#include "moekit/infer/simulate.hpp"

#include "moekit/core/error.hpp"
#include "moekit/infer/predict.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>

namespace moekit {

namespace {

bool intercept_only(const std::vector<std::string>& names) {
  return names.empty() || (names.size() == 1 && names.front() == "(Intercept)");
}

}  // namespace

Simulation simulate(const Model& model, const Dataset& data, Rng& rng) {
  const Index n = data.x.rows();
  if (data.z.rows() != n) throw Error("simulate: x and z have different row counts");
  const Matrix g = predict_gate(model, data);
  Simulation s;
  s.component.resize(static_cast<size_t>(n));
  // Inverse-CDF draw of the component: one uniform per row, in row order; grouped data
  // draw once per group (at its first row) and share it.
  for (Index i = 0; i < n; ++i) {
    if (data.grouped()) {
      const Index first = data.group_first[static_cast<size_t>(data.group[static_cast<size_t>(i)])];
      if (first < i) {
        s.component[static_cast<size_t>(i)] = s.component[static_cast<size_t>(first)];
        continue;
      }
    }
    const double u = uniform01(rng);
    double acc = 0.0;
    Index k = 0;
    for (; k < g.cols() - 1; ++k) {
      acc += g(i, k);
      if (u < acc) break;
    }
    s.component[static_cast<size_t>(i)] = k;
  }
  s.y = model.experts().sample(data.x, s.component, rng);
  require_finite_rows(s.y, data, "draw");
  return s;
}

Dataset intercept_only_dataset(const Model& model, Index n) {
  const ModelSpec& m = model.spec();
  // Gaussian experts do not read x and a constant gate does not read z.
  const bool x_used = model.experts().reads_covariates(), z_used = model.gates_read_covariates();
  if ((x_used && !intercept_only(m.data.x_names)) || (z_used && !intercept_only(m.data.z_names)))
    throw InputError::option(
        "--n", std::to_string(n),
        fmt::format(
            "the model reads covariates (formula '{}'{}): give a DATA.csv with those "
            "columns instead",
            m.data.formula,
            m.data.gate_formula.empty() ? "" : ", gate formula '" + m.data.gate_formula + "'"));
  if (n < 1) throw InputError::option("--n", std::to_string(n), "must be >= 1");
  Dataset d;
  d.x = Matrix::Ones(n, std::max<Index>(1, static_cast<Index>(m.data.x_names.size())));
  d.z = Matrix::Ones(n, std::max<Index>(1, static_cast<Index>(m.data.z_names.size())));
  d.source = "--n";
  return d;
}

}  // namespace moekit
