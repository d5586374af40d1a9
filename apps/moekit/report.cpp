#include "report.hpp"

#include "moekit/core/error.hpp"
#include "moekit/model/model_json.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <utility>
#include <vector>

namespace moekit::cli {

std::string fit_json(const Model& model, const FitResult& fit) {
  const nlohmann::json m = nlohmann::json::parse(model_to_json(model, &fit, -1));
  nlohmann::json out = m.at("fit");
  out["spec"] = m.at("spec");
  out["parameters"] = m.at("parameters");
  out["criteria_convention"] =
      "lower is better: AIC = -2 loglik + 2 p, BIC = -2 loglik + p log n, ICL = BIC + 2 * entropy "
      "(hard)";
  return out.dump();
}

namespace {

using Labels = std::vector<std::string>;

Labels numbered(const std::string& prefix, Index count) {
  Labels out;
  for (Index k = 0; k < count; ++k) out.push_back(fmt::format("{} {}", prefix, k + 1));
  return out;
}

// A parameter matrix as a table, with row and column names where its shape says what they
// are (R's print of a named matrix); a single column is printed as a row under its names.
std::string format_matrix(const Matrix& m,
                          const std::string& indent,
                          Labels rows = {},
                          Labels cols = {}) {
  if (m.size() == 1) {  // a scalar needs no names
    rows.clear();
    cols.clear();
  }
  if (static_cast<Index>(rows.size()) != m.rows()) rows.clear();
  if (static_cast<Index>(cols.size()) != m.cols()) cols.clear();
  if (m.cols() == 1 && cols.empty() && m.rows() > 1) {
    const Matrix t = m.transpose();
    return format_matrix(t, indent, {}, rows);
  }
  size_t label_width = 0;
  for (const auto& r : rows) label_width = std::max(label_width, r.size());
  size_t width = 14;
  for (const auto& c : cols) width = std::max(width, c.size() + 2);
  std::string s;
  if (!cols.empty()) {
    s += indent + std::string(label_width, ' ');
    for (const auto& c : cols) s += fmt::format("{:>{}}", c, width);
    s += "\n";
  }
  for (Index i = 0; i < m.rows(); ++i) {
    s += indent;
    if (!rows.empty()) s += fmt::format("{:<{}}", rows[static_cast<size_t>(i)], label_width);
    for (Index j = 0; j < m.cols(); ++j) s += fmt::format("{:>{}.6g}", m(i, j), width);
    s += "\n";
  }
  return s;
}

// Row and column names of a parameter of the experts, from the model's data description.
std::pair<Labels, Labels> expert_labels(const ModelSpec& s, const std::string& name) {
  const Labels& responses = s.data.response_names;
  if (name == "coefficients") {
    if (s.data.categorical_response && s.data.response_levels.size() > 1) {
      Labels levels(s.data.response_levels.begin() + 1, s.data.response_levels.end());
      return {s.data.x_names, levels};
    }
    return {s.data.x_names, responses};
  }
  if (name == "covariance" || name == "scale") return {responses, responses};
  return {responses, {}};
}

}  // namespace

std::string fit_text(const Model& model, const FitResult& fit) {
  const ModelSpec& s = model.spec();
  std::string out;
  out += fmt::format("moekit model: {} experts, {} gate, K = {}", s.experts, s.gate, s.K);
  if (s.experts == "gaussian")
    out += fmt::format(", covariance {} (mclust {})", to_string(s.covariance),
                       mclust_name(s.covariance));
  out += "\n";
  out += fmt::format("data: {}\n", s.data.formula.empty() ? "all numeric columns as responses"
                                                          : "formula " + s.data.formula);
  std::string names;
  for (const auto& n : s.data.response_names) names += (names.empty() ? "" : ", ") + n;
  out += fmt::format("responses: {}\n", names);
  if (fit.n_obs > 0) {
    out += fmt::format("\nlog-likelihood {:.10g}   n = {}   parameters = {}\n", fit.loglik,
                       fit.n_obs, fit.n_params);
    out += fmt::format(
        "AIC {:.6f}   BIC {:.6f}   ICL {:.6f}   (lower is better; BIC = -2 loglik + p log n)\n",
        fit.aic, fit.bic, fit.icl);
    out += fmt::format("EM: {} iterations, {} ({}); {} start(s), best #{}{}; {:.3f} s\n",
                       fit.iterations, to_string(fit.status), fit.stopping_rule, fit.restarts,
                       fit.best_restart + 1, fit.init.empty() ? "" : " (" + fit.init + " start)",
                       fit.seconds);
  }
  out += "\ngate (" + model.gate().kind() + "):\n";
  const Labels experts = numbered("expert", s.K);
  for (const auto& [name, m] : model.gate().params())
    out += "  " + name + ":\n" +
           (name == "coefficients" ? format_matrix(m, "    ", s.data.z_names, experts)
                                   : format_matrix(m, "    ", experts));
  const auto comps = model.experts().component_params();
  for (size_t k = 0; k < comps.size(); ++k) {
    out += fmt::format("\nexpert {}:\n", k + 1);
    for (const auto& [name, m] : comps[k]) {
      const auto [rows, cols] = expert_labels(s, name);
      out += "  " + name + ":\n" + format_matrix(m, "    ", rows, cols);
    }
  }
  const auto shared = model.experts().shared_params();
  if (!shared.empty()) {
    out += "\nshared by all experts:\n";
    for (const auto& [name, m] : shared) {
      const auto [rows, cols] = expert_labels(s, name);
      out += "  " + name + ":\n" + format_matrix(m, "    ", rows, cols);
    }
  }
  for (const auto& w : fit.warnings) out += "warning: " + w + "\n";
  return out;
}

void refuse_overwrite(const std::string& out, const std::vector<std::string>& inputs) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& in : inputs) {
    if (in == "-" || in.empty()) continue;
    if (fs::exists(out, ec) && fs::equivalent(out, in, ec))
      throw InputError(fmt::format("--out {}: refusing to overwrite the input file {}", out, in));
  }
}

}  // namespace moekit::cli
