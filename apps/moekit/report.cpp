#include "report.hpp"

#include "moekit/core/error.hpp"
#include "moekit/model/model_json.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <sstream>

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
std::string format_matrix(const Matrix& m, const std::string& indent) {
  std::string s;
  if (m.cols() == 1) {
    s += indent;
    for (Index i = 0; i < m.rows(); ++i) s += fmt::format("{:>14.6g}", m(i, 0));
    return s + "\n";
  }
  for (Index i = 0; i < m.rows(); ++i) {
    s += indent;
    for (Index j = 0; j < m.cols(); ++j) s += fmt::format("{:>14.6g}", m(i, j));
    s += "\n";
  }
  return s;
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
  for (const auto& [name, m] : model.gate().params())
    out += "  " + name + ":\n" + format_matrix(m, "    ");
  const auto comps = model.experts().component_params();
  for (size_t k = 0; k < comps.size(); ++k) {
    out += fmt::format("\nexpert {}:\n", k + 1);
    for (const auto& [name, m] : comps[k]) out += "  " + name + ":\n" + format_matrix(m, "    ");
  }
  const auto shared = model.experts().shared_params();
  if (!shared.empty()) {
    out += "\nshared by all experts:\n";
    for (const auto& [name, m] : shared) out += "  " + name + ":\n" + format_matrix(m, "    ");
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
