#include "moekit/model/model_json.hpp"

#include "moekit/config.hpp"
#include "moekit/core/error.hpp"
#include "moekit/core/output_file.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <unistd.h>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace moekit {

using nlohmann::json;

namespace {

// Vectors (one column) as flat arrays, matrices as arrays of rows.
json matrix_to_json(const Matrix& m) {
  if (m.cols() == 1) {
    json a = json::array();
    for (Index i = 0; i < m.rows(); ++i) a.push_back(m(i, 0));
    return a;
  }
  json rows = json::array();
  for (Index i = 0; i < m.rows(); ++i) {
    json r = json::array();
    for (Index j = 0; j < m.cols(); ++j) r.push_back(m(i, j));
    rows.push_back(r);
  }
  return rows;
}

Matrix matrix_from_json(const json& j, const std::string& where) {
  if (!j.is_array() || j.empty())
    throw ModelFormatError(fmt::format("{}: expected a non-empty array", where));
  if (!j[0].is_array()) {
    Matrix m(static_cast<Index>(j.size()), 1);
    for (size_t i = 0; i < j.size(); ++i) {
      if (!j[i].is_number())
        throw ModelFormatError(fmt::format("{}[{}]: expected a number", where, i));
      m(static_cast<Index>(i), 0) = j[i].get<double>();
    }
    return m;
  }
  const size_t cols = j[0].size();
  Matrix m(static_cast<Index>(j.size()), static_cast<Index>(cols));
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_array() || j[i].size() != cols)
      throw ModelFormatError(
          fmt::format("{}: row {} does not have {} entries", where, i + 1, cols));
    for (size_t c = 0; c < cols; ++c) {
      if (!j[i][c].is_number())
        throw ModelFormatError(fmt::format("{}[{}][{}]: expected a number", where, i, c));
      m(static_cast<Index>(i), static_cast<Index>(c)) = j[i][c].get<double>();
    }
  }
  return m;
}

json params_to_json(const ParameterMap& p) {
  json o = json::object();
  for (const auto& [name, m] : p) o[name] = matrix_to_json(m);
  return o;
}

ParameterMap params_from_json(const json& j, const std::string& where) {
  ParameterMap p;
  if (!j.is_object()) throw ModelFormatError(fmt::format("{}: expected an object", where));
  for (auto it = j.begin(); it != j.end(); ++it)
    p[it.key()] = matrix_from_json(it.value(), where + "." + it.key());
  return p;
}

template <typename T>
T field(const json& j, const char* name, const std::string& where) {
  if (!j.contains(name)) throw ModelFormatError(fmt::format("{}: missing field '{}'", where, name));
  try {
    return j.at(name).get<T>();
  } catch (const json::exception&) {
    throw ModelFormatError(fmt::format("{}: field '{}' has the wrong type", where, name));
  }
}

json fit_to_json(const FitResult& f) {
  json j;
  j["loglik"] = f.loglik;
  if (f.joint) j["joint_loglik"] = f.joint_loglik;
  j["criteria_on"] = f.joint ? "joint_loglik" : "loglik";
  j["n_obs"] = f.n_obs;
  j["n_params"] = f.n_params;
  j["aic"] = f.aic;
  j["bic"] = f.bic;
  j["icl"] = f.icl;
  j["iterations"] = f.iterations;
  j["converged"] = f.converged();
  j["status"] = to_string(f.status);
  j["stopping_rule"] = f.stopping_rule;
  j["restarts"] = f.restarts;
  j["best_restart"] = f.best_restart + 1;
  // EM's objective at the end of every start (null for a start that failed).
  nlohmann::json starts = nlohmann::json::array();
  for (double l : f.restart_logliks)
    starts.push_back(std::isfinite(l) ? nlohmann::json(l) : nullptr);
  j["restart_logliks"] = starts;
  j["init"] = f.init;
  j["backend"] = f.backend;
  j["seconds"] = f.seconds;
  j["warnings"] = f.warnings;
  std::vector<long> degenerate;
  for (long k : f.degenerate) degenerate.push_back(k + 1);
  j["degenerate_components"] = degenerate;
  j["loglik_trace"] = f.loglik_trace;
  j["method"] = f.method;
  if (f.method == "gradient") j["warmup_iterations"] = f.warmup_iterations;
  if (f.gradient_norm) j["gradient_norm"] = *f.gradient_norm;
  if (!f.inference.empty()) {
    // Absent standard errors are null, never NaN.
    auto opt = [](const std::optional<double>& v) {
      return v && std::isfinite(*v) ? nlohmann::json(*v) : nlohmann::json(nullptr);
    };
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& r : f.inference) {
      nlohmann::json row{{"parameter", r.parameter},
                         {"estimate", r.estimate},
                         {"se", opt(r.se)},
                         {"z", opt(r.z)},
                         {"p", opt(r.p)}};
      if (f.bootstrap_replicates > 0) {
        row["bootstrap_se"] = opt(r.bootstrap_se);
        row["lower"] = opt(r.lower);
        row["upper"] = opt(r.upper);
      }
      rows.push_back(std::move(row));
    }
    j["inference"] = rows;
    if (f.bootstrap_replicates > 0) {
      j["bootstrap_replicates"] = f.bootstrap_replicates;
      j["bootstrap_level"] = f.bootstrap_level;
    }
  }
  return j;
}

}  // namespace

std::string model_to_json(const Model& model, const FitResult* fit, int indent) {
  const ModelSpec& s = model.spec();
  json j;
  j["format"] = "moekit-model";
  j["version"] = kModelFormatVersion;
  j["moekit_version"] = MOEKIT_VERSION_STRING;
  json spec;
  spec["experts"] = s.experts;
  spec["gate"] = s.gate;
  spec["K"] = s.K;
  spec["tree"] = model.tree().branching();
  spec["covariance"] = to_string(s.covariance);
  spec["gate_covariance"] = to_string(s.gate_covariance);
  spec["response_dim"] = model.experts().response_dim();
  spec["reg_covar"] = s.reg_covar;
  spec["collapse_tol"] = s.collapse_tol;
  spec["gate_ridge"] = s.gate_ridge;
  spec["df"] = s.df;
  json data;
  data["formula"] = s.data.formula;
  data["gate_formula"] = s.data.gate_formula;
  data["categorical_response"] = s.data.categorical_response;
  data["response_names"] = s.data.response_names;
  data["response_levels"] = s.data.response_levels;
  data["x_names"] = s.data.x_names;
  data["z_names"] = s.data.z_names;
  data["factor_levels"] = s.data.factor_levels;
  spec["data"] = data;
  j["spec"] = spec;
  json params;
  // One entry per inner node of the gating tree, breadth first; "path" names the node by its
  // branch numbers from the root ("" for the root, "2" its second child, ...).
  json gates = json::array();
  for (Index v = 0; v < model.num_gates(); ++v) {
    json g = params_to_json(model.gate(v).params());
    gates.push_back({{"node", v},
                     {"path", model.tree().node_path(v)},
                     {"kind", model.gate(v).kind()},
                     {"parameters", g}});
  }
  params["gates"] = gates;
  json comps = json::array();
  for (const auto& c : model.experts().component_params()) comps.push_back(params_to_json(c));
  params["experts"] = {{"components", comps},
                       {"shared", params_to_json(model.experts().shared_params())}};
  j["parameters"] = params;
  if (fit) j["fit"] = fit_to_json(*fit);
  return j.dump(indent);
}

namespace {
Model model_from_parsed(const json& j, const std::string& source);
}

Model model_from_json(const std::string& text, const std::string& source) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw ModelFormatError(fmt::format("{}: not a JSON model file ({})", source, e.what()));
  }
  if (!j.is_object() || j.value("format", "") != "moekit-model")
    throw ModelFormatError(
        fmt::format("{}: not a moekit model file (no \"format\": \"moekit-model\")", source));
  const int version = field<int>(j, "version", source);
  if (version > kModelFormatVersion || version < 1)
    throw ModelFormatError(
        fmt::format("{}: model format version {} is not supported by moekit {} (reads 1 to {})",
                    source, version, MOEKIT_VERSION_STRING, kModelFormatVersion));
  try {
    return model_from_parsed(j, source);
  } catch (const json::exception& e) {
    throw ModelFormatError(fmt::format("{}: malformed model file: {}", source, e.what()));
  } catch (const NumericalError& e) {
    throw ModelFormatError(fmt::format("{}: invalid parameters: {}", source, e.what()));
  }
}

namespace {
Model model_from_parsed(const json& j, const std::string& source) {
  const json& js = j.at("spec");
  ModelSpec s;
  const std::string where = source + ": spec";
  s.experts = field<std::string>(js, "experts", where);
  s.gate = field<std::string>(js, "gate", where);
  s.K = field<Index>(js, "K", where);
  if (js.contains("tree")) {  // format 2
    TreeShape shape;
    try {
      shape = TreeShape(field<std::vector<Index>>(js, "tree", where));
    } catch (const ModelFormatError&) {
      throw;
    } catch (const InputError& e) {
      throw ModelFormatError(fmt::format("{}: tree: {}", where, e.what()));
    }
    if (s.K != shape.leaves())
      throw ModelFormatError(fmt::format("{}: K = {} but the tree {} has {} leaves", where, s.K,
                                         shape.to_string(), shape.leaves()));
    s.set_shape(shape);
  }
  s.covariance = parse_covariance(field<std::string>(js, "covariance", where));
  if (js.contains("gate_covariance"))
    s.gate_covariance = parse_covariance(field<std::string>(js, "gate_covariance", where));
  s.reg_covar = field<double>(js, "reg_covar", where);
  s.collapse_tol = js.value("collapse_tol", 1e-8);
  s.gate_ridge = js.value("gate_ridge", 0.0);  // absent before softmax gates: no penalty
  s.df = js.value("df", 0.0);                  // absent before t experts: nu estimated
  const json& jd = js.at("data");
  const std::string dwhere = where + ".data";
  s.data.formula = field<std::string>(jd, "formula", dwhere);
  s.data.gate_formula = field<std::string>(jd, "gate_formula", dwhere);
  s.data.categorical_response = field<bool>(jd, "categorical_response", dwhere);
  s.data.response_names = field<std::vector<std::string>>(jd, "response_names", dwhere);
  s.data.response_levels = field<std::vector<std::string>>(jd, "response_levels", dwhere);
  s.data.x_names = field<std::vector<std::string>>(jd, "x_names", dwhere);
  s.data.z_names = field<std::vector<std::string>>(jd, "z_names", dwhere);
  s.data.factor_levels = field<FactorLevels>(jd, "factor_levels", dwhere);
  try {
    s.validate();
  } catch (const InputError& e) {
    throw ModelFormatError(fmt::format("{}: {}", where, e.what()));
  }
  const Index q = field<Index>(js, "response_dim", where);
  if (q < 1) throw ModelFormatError(fmt::format("{}: response_dim must be >= 1", where));
  Model m(s, q, static_cast<Index>(s.data.x_names.size()),
          static_cast<Index>(s.data.z_names.size()));
  const json& jp = j.at("parameters");
  if (jp.contains("gates")) {
    const json& jg = jp.at("gates");
    if (!jg.is_array() || static_cast<Index>(jg.size()) != m.num_gates())
      throw ModelFormatError(
          fmt::format("{}: parameters.gates: expected {} gates (one per inner "
                      "node of the tree {})",
                      source, m.num_gates(), m.tree().to_string()));
    for (Index v = 0; v < m.num_gates(); ++v)
      m.gate(v).set_params(params_from_json(jg[static_cast<size_t>(v)].at("parameters"),
                                            fmt::format("{}: parameters.gates[{}]", source, v)));
  } else {  // format 1: one gate
    m.gate().set_params(params_from_json(jp.at("gate"), source + ": parameters.gate"));
  }
  std::vector<ParameterMap> comps;
  const json& je = jp.at("experts");
  for (size_t k = 0; k < je.at("components").size(); ++k)
    comps.push_back(params_from_json(
        je.at("components")[k], fmt::format("{}: parameters.experts.components[{}]", source, k)));
  m.experts().set_params(comps, params_from_json(je.value("shared", json::object()),
                                                 source + ": parameters.experts.shared"));
  return m;
}
}  // namespace

FitResult fit_record_from_json(const std::string& text) {
  FitResult f;
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.contains("fit")) return f;
  const json& r = j.at("fit");
  f.loglik = r.value("loglik", 0.0);
  f.joint = r.contains("joint_loglik");
  f.joint_loglik = r.value("joint_loglik", 0.0);
  f.n_obs = r.value("n_obs", 0L);
  f.n_params = r.value("n_params", 0L);
  f.aic = r.value("aic", 0.0);
  f.bic = r.value("bic", 0.0);
  f.icl = r.value("icl", 0.0);
  f.iterations = r.value("iterations", 0);
  const std::string status = r.value("status", "");
  f.status = status == "converged" ? FitStatus::Converged
             : status == "stopped" ? FitStatus::Stopped
                                   : FitStatus::MaxIterations;
  f.stopping_rule = r.value("stopping_rule", "");
  f.restarts = r.value("restarts", 0);
  f.best_restart = r.value("best_restart", 1) - 1;
  f.init = r.value("init", "");
  f.backend = r.value("backend", "cpu");
  f.seconds = r.value("seconds", 0.0);
  f.warnings = r.value("warnings", std::vector<std::string>{});
  for (long k : r.value("degenerate_components", std::vector<long>{}))
    f.degenerate.push_back(k - 1);
  f.loglik_trace = r.value("loglik_trace", std::vector<double>{});
  f.method = r.value("method", "em");
  f.warmup_iterations = r.value("warmup_iterations", 0);
  if (r.contains("gradient_norm") && r.at("gradient_norm").is_number())
    f.gradient_norm = r.at("gradient_norm").get<double>();
  f.bootstrap_replicates = r.value("bootstrap_replicates", 0);
  f.bootstrap_level = r.value("bootstrap_level", 0.95);
  if (r.contains("inference") && r.at("inference").is_array()) {
    auto opt = [](const json& row, const char* key) -> std::optional<double> {
      if (row.contains(key) && row.at(key).is_number()) return row.at(key).get<double>();
      return std::nullopt;
    };
    for (const json& row : r.at("inference")) {
      if (!row.is_object()) continue;
      ParameterInference p;
      p.parameter = row.value("parameter", "");
      p.estimate = row.value("estimate", 0.0);
      p.se = opt(row, "se");
      p.z = opt(row, "z");
      p.p = opt(row, "p");
      p.bootstrap_se = opt(row, "bootstrap_se");
      p.lower = opt(row, "lower");
      p.upper = opt(row, "upper");
      f.inference.push_back(p);
    }
  }
  return f;
}

void save_model(const Model& model, const FitResult* fit, const std::string& path) {
  write_file_atomically(path, model_to_json(model, fit) + "\n");
}

Model load_model(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw InputError(fmt::format("{}: cannot open model file: {}", path, std::strerror(errno)));
  std::stringstream ss;
  ss << in.rdbuf();
  return model_from_json(ss.str(), path);
}

}  // namespace moekit
