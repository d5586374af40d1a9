#include "moekit/infer/natural_parameters.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace moekit {

namespace {

std::string label(const std::vector<std::string>& names, Index i, const char* fallback) {
  return i < static_cast<Index>(names.size()) ? names[static_cast<size_t>(i)]
                                              : fmt::format("{}{}", fallback, i + 1);
}

class Collector {
 public:
  void add(std::string name, double value) {
    names_.push_back(std::move(name));
    values_.push_back(value);
  }
  NaturalParameters done() const {
    NaturalParameters p;
    p.names = names_;
    p.values = Eigen::Map<const Vector>(values_.data(), static_cast<Index>(values_.size()));
    return p;
  }

 private:
  std::vector<std::string> names_;
  std::vector<double> values_;
};

// A symmetric q x q matrix (covariance or scale) by its lower triangle.
void add_symmetric(Collector& c,
                   const std::string& prefix,
                   const std::string& name,
                   const Matrix& m,
                   const std::vector<std::string>& responses) {
  if (m.rows() == 1 && m.cols() == 1) {
    c.add(fmt::format("{}.{}", prefix, name == "covariance" ? "variance" : name), m(0, 0));
    return;
  }
  const bool cov = name == "covariance";
  for (Index j = 0; j < m.cols(); ++j)
    for (Index i = j; i < m.rows(); ++i) {
      const std::string yi = label(responses, i, "y"), yj = label(responses, j, "y");
      const std::string entry = i == j ? fmt::format("{}({})", cov ? "var" : "scale", yi)
                                       : fmt::format("{}({},{})", cov ? "cov" : "scale", yi, yj);
      c.add(prefix + "." + entry, m(i, j));
    }
}

void add_expert_map(Collector& c,
                    const std::string& prefix,
                    const ParameterMap& params,
                    const ModelSpec& s) {
  const DataSpec& d = s.data;
  for (const auto& [name, m] : params) {
    if (name == "coefficients") {
      // Columns: responses, or the classes after the reference one for logistic experts.
      std::vector<std::string> cols = d.response_names;
      if (d.categorical_response && d.response_levels.size() > 1)
        cols.assign(d.response_levels.begin() + 1, d.response_levels.end());
      for (Index j = 0; j < m.cols(); ++j)
        for (Index i = 0; i < m.rows(); ++i) {
          const std::string x = label(d.x_names, i, "x");
          c.add(m.cols() == 1 ? fmt::format("{}.{}", prefix, x)
                              : fmt::format("{}.{}.{}", prefix, label(cols, j, "y"), x),
                m(i, j));
        }
    } else if (name == "mean") {
      for (Index i = 0; i < m.size(); ++i)
        c.add(fmt::format("{}.mean.{}", prefix, label(d.response_names, i, "y")), m(i));
    } else if ((name == "covariance" || name == "scale") && m.rows() == m.cols()) {
      add_symmetric(c, prefix, name, m, d.response_names);
    } else if (m.size() == 1) {
      c.add(fmt::format("{}.{}", prefix, name), m(0, 0));
    } else {
      for (Index j = 0; j < m.cols(); ++j)
        for (Index i = 0; i < m.rows(); ++i)
          c.add(fmt::format("{}.{}[{},{}]", prefix, name, i + 1, j + 1), m(i, j));
    }
  }
}

}  // namespace

NaturalParameters natural_parameters(const Model& model) {
  const ModelSpec& s = model.spec();
  const TreeShape& t = model.tree();
  Collector c;
  for (Index v = 0; v < model.num_gates(); ++v) {
    const std::string prefix = v == 0 ? "gate" : "gate[" + t.node_path(v) + "]";
    std::vector<std::string> branches;
    for (Index b = 0; b < t.children(v); ++b) {
      const Index child = t.first_child(v) + b;
      branches.push_back(child >= t.inner_nodes()
                             ? fmt::format("expert{}", child - t.inner_nodes() + 1)
                             : "node" + t.node_path(child));
    }
    for (const auto& [name, m] : model.gate(v).params()) {
      if (name == "coefficients") {
        for (Index k = 0; k < m.cols(); ++k)
          for (Index i = 0; i < m.rows(); ++i)
            c.add(fmt::format("{}.{}.{}", prefix, label(branches, k, "branch"),
                              label(s.data.z_names, i, "z")),
                  m(i, k));
      } else if (name == "weights") {
        for (Index k = 0; k < m.size(); ++k)
          c.add(fmt::format("{}.{}.weight", prefix, label(branches, k, "branch")), m(k));
      } else {
        for (Index j = 0; j < m.cols(); ++j)
          for (Index i = 0; i < m.rows(); ++i)
            c.add(fmt::format("{}.{}[{},{}]", prefix, name, i + 1, j + 1), m(i, j));
      }
    }
  }
  const auto comps = model.experts().component_params();
  for (size_t k = 0; k < comps.size(); ++k)
    add_expert_map(c, fmt::format("expert{}", k + 1), comps[k], s);
  add_expert_map(c, "experts", model.experts().shared_params(), s);
  return c.done();
}

Matrix natural_jacobian(const Model& model, double step) {
  const Vector theta = model.parameters();
  const Index d = theta.size();
  auto natural_at = [&](const Vector& t) {
    Model m(model);
    m.set_parameters(t);
    return natural_parameters(m).values;
  };
  Matrix J(natural_parameters(model).values.size(), d);
  for (Index j = 0; j < d; ++j) {
    const double h = step * std::max(1.0, std::abs(theta(j)));
    Vector plus = theta, minus = theta;
    plus(j) += h;
    minus(j) -= h;
    J.col(j) = (natural_at(plus) - natural_at(minus)) / (2.0 * h);
  }
  return J;
}

}  // namespace moekit
