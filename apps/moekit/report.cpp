#include "report.hpp"

#include "moekit/core/error.hpp"
#include "moekit/model/model_json.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
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
      fit.joint ? "lower is better, on the joint log-likelihood log p(z, y) that EM maximised: AIC "
                  "= -2 joint_loglik + 2 p, BIC = -2 joint_loglik + p log n, ICL = BIC + 2 * "
                  "entropy (hard)"
                : "lower is better: AIC = -2 loglik + 2 p, BIC = -2 loglik + p log n, ICL = BIC + "
                  "2 * entropy (hard)";
  return out.dump();
}

namespace {

using Labels = std::vector<std::string>;

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

namespace {

// Row and column names of a gate parameter.
std::pair<Labels, Labels> gate_labels(const ModelSpec& s,
                                      const std::string& name,
                                      const Labels& branches,
                                      Index skipped_columns) {
  Labels covariates(s.data.z_names.begin() +
                        std::min<Index>(skipped_columns, static_cast<Index>(s.data.z_names.size())),
                    s.data.z_names.end());
  if (name == "coefficients") return {s.data.z_names, branches};
  if (name == "means") return {branches, covariates};
  if (name.rfind("covariance", 0) == 0) return {covariates, covariates};
  return {branches, {}};
}

// The gating tree as an indented outline: each gate with its kind, each leaf as its expert.
void outline(const Model& model, Index node, int depth, std::string& out) {
  const TreeShape& t = model.tree();
  const std::string pad(static_cast<size_t>(2 * depth + 2), ' ');
  if (node >= t.inner_nodes()) {
    out += fmt::format("{}expert {}\n", pad, node - t.inner_nodes() + 1);
    return;
  }
  out += fmt::format("{}{} ({} gate over {} branches)\n", pad,
                     node == 0 ? std::string("root") : "node " + t.node_path(node),
                     model.gate(node).kind(), t.children(node));
  for (Index c = 0; c < t.children(node); ++c)
    outline(model, t.first_child(node) + c, depth + 1, out);
}

// R's format.pval: below machine precision as "< 2e-16".
std::string format_p(double p) {
  return p < 2.2e-16 ? std::string("< 2e-16") : fmt::format("{:.3g}", p);
}

std::string stars(double p) {
  return p < 0.001 ? "***" : p < 0.01 ? "**" : p < 0.05 ? "*" : p < 0.1 ? "." : "";
}

// R's coefficient tables (summary.glm): one per expert, gate and shared block, the block
// being the parameter name up to its first dot. A bootstrap adds its standard error and
// percentile interval (the labels of R's confint); with a bootstrap alone, the Wald columns
// are left out.
std::string inference_text(const FitResult& fit) {
  const std::vector<ParameterInference>& rows = fit.inference;
  const bool boot = fit.bootstrap_replicates > 0;
  bool wald = !boot;
  for (const auto& r : rows) wald = wald || r.se.has_value();
  std::string out;
  if (wald)
    out += "\nstandard errors (observed information, delta method to the natural parameters)";
  if (boot)
    out += fmt::format("{}nonparametric bootstrap, {} replicates refitted from the fitted model",
                       wald ? ";\n" : "\n", fit.bootstrap_replicates);
  out += ":\n";
  const std::string lo = fmt::format("{:g} %", 50.0 * (1.0 - fit.bootstrap_level)),
                    hi = fmt::format("{:g} %", 50.0 * (1.0 + fit.bootstrap_level));
  auto value = [](const std::optional<double>& v, const char* spec) {
    return v && std::isfinite(*v) ? fmt::format(spec, *v) : fmt::format("{:>13}", "NA");
  };
  std::vector<std::string> blocks;
  for (const auto& r : rows) {
    const std::string block = r.parameter.substr(0, r.parameter.find('.'));
    if (std::find(blocks.begin(), blocks.end(), block) == blocks.end()) blocks.push_back(block);
  }
  for (const auto& block : blocks) {
    size_t width = 12;
    for (const auto& r : rows)
      if (r.parameter.rfind(block + ".", 0) == 0)
        width = std::max(width, r.parameter.size() - block.size() + 1);
    out += fmt::format("\n{}:\n  {:<{}}{:>13}", block, "", width, "Estimate");
    if (wald) out += fmt::format("{:>13}{:>10}{:>10}", "Std. Error", "z value", "Pr(>|z|)");
    if (boot) out += fmt::format("{:>13}{:>13}{:>13}", "Boot. SE", lo, hi);
    out += "\n";
    for (const auto& r : rows) {
      if (r.parameter.rfind(block + ".", 0) != 0) continue;
      const std::string name = r.parameter.substr(block.size() + 1);
      out += fmt::format("  {:<{}}{:>13.6g}", name, width, r.estimate);
      // R's signif. column, after the numbers (a blank one as well, like R's).
      std::optional<std::string> signif;
      if (wald) {
        if (r.se && r.z && r.p) {
          out += fmt::format("{:>13.6g}{:>10.3f}{:>10}", *r.se, *r.z, format_p(*r.p));
          signif = stars(*r.p);
        } else {
          out += fmt::format("{:>13}{:>10}{:>10}", "NA", "NA", "NA");
        }
      }
      if (boot)
        out += value(r.bootstrap_se, "{:>13.6g}") + value(r.lower, "{:>13.6g}") +
               value(r.upper, "{:>13.6g}");
      out += signif ? " " + *signif + "\n" : "\n";
    }
  }
  if (wald) out += "---\nSignif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1\n";
  return out;
}

}  // namespace

std::string fit_text(const Model& model, const FitResult& fit) {
  const ModelSpec& s = model.spec();
  const TreeShape& t = model.tree();
  std::string out;
  out += fmt::format("moekit model: {} experts, {} gate{}, K = {}", s.experts, s.gate,
                     t.is_flat() ? "" : "s", s.K);
  if (!t.is_flat()) out += fmt::format(", tree {} (depth {})", t.to_string(), t.depth());
  const std::string note = model.experts().settings_note();
  if (!note.empty()) out += ", " + note;
  out += "\n";
  out += fmt::format("data: {}\n", s.data.formula.empty() ? "all numeric columns as responses"
                                                          : "formula " + s.data.formula);
  std::string names;
  for (const auto& n : s.data.response_names) names += (names.empty() ? "" : ", ") + n;
  out += fmt::format("responses: {}\n", names);
  if (fit.n_obs > 0) {
    if (fit.weight_sum > 0)
      out += fmt::format(
          "\nlog-likelihood {:.10g}   n = {:.10g} (the weights' sum over {} rows)   parameters = "
          "{}\n",
          fit.loglik, fit.weight_sum, fit.n_obs, fit.n_params);
    else
      out += fmt::format("\nlog-likelihood {:.10g}   n = {}   parameters = {}\n", fit.loglik,
                         fit.n_obs, fit.n_params);
    if (fit.joint)
      out += fmt::format(
          "joint log-likelihood log p(z, y) {:.10g} (what EM maximised; the criteria use it)\n",
          fit.joint_loglik);
    out += fmt::format(
        "AIC {:.6f}   BIC {:.6f}   ICL {:.6f}   (lower is better; BIC = -2 loglik + p log n)\n",
        fit.aic, fit.bic, fit.icl);
    const std::string how =
        fit.method == "gradient"
            ? fmt::format("gradient ascent (L-BFGS after {} EM iterations)", fit.warmup_iterations)
            : "EM";
    out += fmt::format("{}: {} iterations, {} ({}); {} start(s), best #{}{}; {:.3f} s\n", how,
                       fit.iterations, to_string(fit.status), fit.stopping_rule, fit.restarts,
                       fit.best_restart + 1, fit.init.empty() ? "" : " (" + fit.init + " start)",
                       fit.seconds);
    if (fit.split_merge_tried > 0)
      out += fmt::format(
          "split-and-merge moves from the best start's maximum: {} tried ({} EM iterations), {} "
          "kept\n",
          fit.split_merge_tried, fit.split_merge_iterations, fit.split_merge_accepted);
    if (fit.backend != "cpu") out += fmt::format("E-step on {}\n", fit.backend);
    if (fit.gradient_norm)
      out += fmt::format("score norm at the end: {:.3g}\n", *fit.gradient_norm);
  }
  if (!t.is_flat()) {
    out += "\ngating tree:\n";
    outline(model, 0, 0, out);
  }
  for (Index v = 0; v < model.num_gates(); ++v) {
    const Gate& g = model.gate(v);
    Labels branches;
    for (Index c = 0; c < t.children(v); ++c) {
      const Index child = t.first_child(v) + c;
      branches.push_back(child >= t.inner_nodes()
                             ? fmt::format("expert {}", child - t.inner_nodes() + 1)
                             : "node " + t.node_path(child));
    }
    // A gate that models z skips the intercept column.
    const Index intercept =
        !s.data.z_names.empty() && s.data.z_names.front() == "(Intercept)" && g.joint() ? 1 : 0;
    out += fmt::format("\n{}gate ({}):\n",
                       t.is_flat() ? ""
                       : v == 0    ? "root "
                                   : "node " + t.node_path(v) + " ",
                       g.kind());
    for (const auto& [name, m] : g.params()) {
      const auto [rows, cols] = gate_labels(s, name, branches, intercept);
      out += "  " + name + ":\n" + format_matrix(m, "    ", rows, cols);
    }
  }
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
  if (!fit.inference.empty()) out += inference_text(fit);
  for (const auto& w : fit.warnings) out += "warning: " + w + "\n";
  return out;
}

bool stdout_is_stderr() {
  struct stat out {};
  struct stat err {};
  return fstat(STDOUT_FILENO, &out) == 0 && fstat(STDERR_FILENO, &err) == 0 &&
         out.st_dev == err.st_dev && out.st_ino == err.st_ino;
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
