#include "moekit/model/model_json.hpp"

#include "moekit/config.hpp"
#include "moekit/core/error.hpp"
#include "moekit/core/input_file.hpp"
#include "moekit/core/output_file.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <limits>

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

// The JSON library's message without its "[json.exception.type.nnn] " tag: users see what
// is wrong with their file, not the library's internals.
std::string json_message(const json::exception& e) {
  std::string what = e.what();
  if (what.rfind("[json.exception.", 0) == 0) {
    const size_t tag = what.find("] ");
    if (tag != std::string::npos) what.erase(0, tag + 2);
  }
  return excerpt(what, 200);
}

// A parameter value from a model file. Beyond kMaxParameterMagnitude its square overflows
// (a variance, a product with a covariate of its own scale), and predictions turn into inf
// or NaN: such a file is refused here, naming the entry.
double parameter_value(const json& v, const std::string& where) {
  if (!v.is_number()) throw ModelFormatError(fmt::format("{}: expected a number", where));
  const double d = v.get<double>();
  if (!std::isfinite(d) || std::abs(d) > kMaxParameterMagnitude)
    throw ModelFormatError(
        fmt::format("{}: {:g} is out of range: a model parameter must be at "
                    "most {:g} in magnitude",
                    where, d, kMaxParameterMagnitude));
  return d;
}

Matrix matrix_from_json(const json& j, const std::string& where) {
  if (!j.is_array() || j.empty())
    throw ModelFormatError(fmt::format("{}: expected a non-empty array", where));
  if (!j[0].is_array()) {
    Matrix m(static_cast<Index>(j.size()), 1);
    for (size_t i = 0; i < j.size(); ++i)
      m(static_cast<Index>(i), 0) = parameter_value(j[i], fmt::format("{}[{}]", where, i));
    return m;
  }
  const size_t cols = j[0].size();
  if (cols == 0) throw ModelFormatError(fmt::format("{}: row 1 is empty", where));
  Matrix m(static_cast<Index>(j.size()), static_cast<Index>(cols));
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_array() || j[i].size() != cols)
      throw ModelFormatError(
          fmt::format("{}: row {} does not have {} entries", where, i + 1, cols));
    for (size_t c = 0; c < cols; ++c)
      m(static_cast<Index>(i), static_cast<Index>(c)) =
          parameter_value(j[i][c], fmt::format("{}[{}][{}]", where, i, c));
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

// A member that must be present; `where` names the object in messages.
const json& member(const json& j, const char* name, const std::string& where) {
  if (!j.is_object()) throw ModelFormatError(fmt::format("{}: expected an object", where));
  const auto it = j.find(name);
  if (it == j.end()) throw ModelFormatError(fmt::format("{}: missing field '{}'", where, name));
  return *it;
}

template <typename T>
T field(const json& j, const char* name, const std::string& where) {
  const json& v = member(j, name, where);
  try {
    return v.get<T>();
  } catch (const json::exception&) {
    throw ModelFormatError(fmt::format("{}: field '{}' has the wrong type", where, name));
  }
}

// An optional number (a default when absent); refused when present and not a number.
double optional_number(const json& j, const char* name, double absent, const std::string& where) {
  if (!j.contains(name)) return absent;
  const json& v = j.at(name);
  if (!v.is_number())
    throw ModelFormatError(fmt::format("{}: field '{}' must be a number", where, name));
  return v.get<double>();
}

// A count or index: a JSON integer (or a number with no fractional part) in [lo, hi].
// "K": 2.7 was read as 2, and 1e300 overflowed the conversion to an integer.
long long whole_number(
    const json& v, long long lo, long long hi, const std::string& where, const std::string& name) {
  if (!v.is_number())
    throw ModelFormatError(fmt::format("{}: '{}' must be a whole number", where, name));
  auto out_of_range = [&] {
    return ModelFormatError(fmt::format("{}: '{}' is {}; it must be between {} and {}", where, name,
                                        excerpt(v.dump()), lo, hi));
  };
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::floor(d) != d)
      throw ModelFormatError(fmt::format("{}: '{}' is {}, which is not a whole number", where, name,
                                         excerpt(v.dump())));
    // 2^63 and beyond do not convert to long long.
    if (!(d >= static_cast<double>(lo) && d <= static_cast<double>(hi) && std::abs(d) < 0x1p63))
      throw out_of_range();
    return static_cast<long long>(d);
  }
  if (v.is_number_unsigned()) {
    const auto u = v.get<unsigned long long>();
    if (u > static_cast<unsigned long long>(hi) || static_cast<long long>(u) < lo)
      throw out_of_range();
    return static_cast<long long>(u);
  }
  const auto i = v.get<long long>();
  if (i < lo || i > hi) throw out_of_range();
  return i;
}

long long whole_field(
    const json& j, const char* name, long long lo, long long hi, const std::string& where) {
  return whole_number(member(j, name, where), lo, hi, where, name);
}

json fit_to_json(const FitResult& f) {
  json j;
  j["loglik"] = f.loglik;
  if (f.joint) j["joint_loglik"] = f.joint_loglik;
  j["criteria_on"] = f.joint ? "joint_loglik" : "loglik";
  j["n_obs"] = f.n_obs;
  if (f.weight_sum > 0) j["weight_sum"] = f.weight_sum;
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
  // EM's objective at the end of every start, after its split-and-merge moves (null for a
  // start that failed).
  nlohmann::json starts = nlohmann::json::array();
  for (double l : f.restart_logliks)
    starts.push_back(std::isfinite(l) ? nlohmann::json(l) : nullptr);
  j["restart_logliks"] = starts;
  j["init"] = f.init;
  j["split_merge"] = {{"tried", f.split_merge_tried},
                      {"kept", f.split_merge_accepted},
                      {"iterations", f.split_merge_iterations}};
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
  if (!s.data.weights_column.empty()) data["weights_column"] = s.data.weights_column;
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

// Parses a model file's text; ModelFormatError naming `source` when it is not JSON (a syntax
// error, a number such as 1e400 that no double holds).
json parse_model_text(const std::string& text, const std::string& source) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw ModelFormatError(fmt::format("{}: not a JSON model file ({})", source, json_message(e)));
  }
}

// Whether the model says how it reads a CSV: a formula, or (without one) the response
// columns. A model built in code from matrices names at most its covariates.
bool described(const DataSpec& d) { return !d.formula.empty() || !d.response_names.empty(); }

// The spec's data description, with the invariants the rest of the library relies on: one
// name per response column (response_dim), class labels for categorical responses. The names
// of the covariates size the experts and gates (p, r); apply_spec checks them against the
// columns the formulas build.
DataSpec data_spec_from_json(const json& jd, Index q, const std::string& where) {
  DataSpec d;
  d.formula = field<std::string>(jd, "formula", where);
  d.gate_formula = field<std::string>(jd, "gate_formula", where);
  d.categorical_response = field<bool>(jd, "categorical_response", where);
  if (jd.contains("weights_column"))
    d.weights_column = field<std::string>(jd, "weights_column", where);
  d.response_names = field<std::vector<std::string>>(jd, "response_names", where);
  d.response_levels = field<std::vector<std::string>>(jd, "response_levels", where);
  d.x_names = field<std::vector<std::string>>(jd, "x_names", where);
  d.z_names = field<std::vector<std::string>>(jd, "z_names", where);
  d.factor_levels = field<FactorLevels>(jd, "factor_levels", where);
  // A model built in code loads; apply_spec refuses to read a CSV with it.
  if (!described(d)) return d;
  const Index names = static_cast<Index>(d.response_names.size());
  if (d.categorical_response) {
    if (names != 1 || q != 1)
      throw ModelFormatError(fmt::format(
          "{}: class labels are one response column, but response_names has {} names and "
          "response_dim is {}",
          where, names, q));
    if (d.response_levels.size() < 2)
      throw ModelFormatError(
          fmt::format("{}: response_levels must list at least two class labels, not {}", where,
                      d.response_levels.size()));
  } else if (names != q) {
    throw ModelFormatError(
        fmt::format("{}: response_names has {} names but response_dim is {}", where, names, q));
  }
  return d;
}

Model model_from_parsed(const json& j, const std::string& source) {
  const std::string where = source + ": spec";
  const json& js = member(j, "spec", source);
  ModelSpec s;
  s.experts = field<std::string>(js, "experts", where);
  s.gate = field<std::string>(js, "gate", where);
  s.K = static_cast<Index>(whole_field(js, "K", 1, TreeShape::kMaxLeaves, where));
  if (js.contains("tree")) {  // format 2
    const json& jt = js.at("tree");
    if (!jt.is_array() || jt.empty())
      throw ModelFormatError(fmt::format("{}: 'tree' must be a list of branching factors", where));
    std::vector<Index> branching;
    for (size_t i = 0; i < jt.size(); ++i)
      branching.push_back(static_cast<Index>(
          whole_number(jt[i], 1, TreeShape::kMaxLeaves, where, fmt::format("tree[{}]", i))));
    TreeShape shape;
    try {
      shape = TreeShape(branching);
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
  try {
    s.covariance = parse_covariance(field<std::string>(js, "covariance", where));
    if (js.contains("gate_covariance"))
      s.gate_covariance = parse_covariance(field<std::string>(js, "gate_covariance", where));
  } catch (const ModelFormatError&) {
    throw;
  } catch (const InputError& e) {
    throw ModelFormatError(fmt::format("{}: {}", where, e.what()));
  }
  s.reg_covar = field<double>(js, "reg_covar", where);
  s.collapse_tol = optional_number(js, "collapse_tol", 1e-8, where);
  s.gate_ridge = optional_number(js, "gate_ridge", 0.0, where);  // absent before softmax gates
  s.df = optional_number(js, "df", 0.0, where);                  // absent before t experts
  // The response dimension is bounded by the names listed in the file (checked below), so
  // that a huge "response_dim" is refused before the experts are allocated.
  const Index q = static_cast<Index>(
      whole_field(js, "response_dim", 1, std::numeric_limits<std::int32_t>::max(), where));
  s.data = data_spec_from_json(member(js, "data", where), q, where + ".data");
  try {
    if (described(s.data)) check_spec_names(s.data);
  } catch (const InputError& e) {
    throw ModelFormatError(fmt::format("{}.data: {}", where, e.what()));
  }
  try {
    s.validate();
  } catch (const InputError& e) {
    throw ModelFormatError(fmt::format("{}: {}", where, e.what()));
  }

  // The file must hold the parameters of every gate and expert before they are allocated:
  // K (up to 2^20) and the tree come from numbers in the file, the parameters from its size.
  const TreeShape shape = s.shape();
  const json& jp = member(j, "parameters", source);
  const json& je = member(jp, "experts", source + ": parameters");
  const json& jc = member(je, "components", source + ": parameters.experts");
  if (!jc.is_array() || static_cast<Index>(jc.size()) != s.K)
    throw ModelFormatError(fmt::format(
        "{}: parameters.experts.components: expected a list of K = {} experts, found {}", source,
        s.K, jc.is_array() ? fmt::format("{}", jc.size()) : std::string("no list")));
  std::vector<json> gate_params;
  if (jp.contains("gates")) {
    const json& jg = jp.at("gates");
    if (!jg.is_array() || static_cast<Index>(jg.size()) != shape.inner_nodes())
      throw ModelFormatError(
          fmt::format("{}: parameters.gates: expected {} gates (one per inner "
                      "node of the tree {})",
                      source, shape.inner_nodes(), shape.to_string()));
    for (size_t v = 0; v < jg.size(); ++v)
      gate_params.push_back(
          member(jg[v], "parameters", fmt::format("{}: parameters.gates[{}]", source, v)));
  } else {  // format 1: one gate
    if (shape.inner_nodes() != 1)
      throw ModelFormatError(
          fmt::format("{}: parameters: a tree needs 'gates', one per inner node", source));
    gate_params.push_back(member(jp, "gate", source + ": parameters"));
  }

  Model m(s, q, static_cast<Index>(s.data.x_names.size()),
          static_cast<Index>(s.data.z_names.size()));
  // The families name the parameter at fault ("gaussian expert 1: 'covariance' ..."); the
  // file and the section are added here.
  for (Index v = 0; v < m.num_gates(); ++v) {
    const std::string gwhere = jp.contains("gates")
                                   ? fmt::format("{}: parameters.gates[{}]", source, v)
                                   : source + ": parameters.gate";
    const ParameterMap params = params_from_json(gate_params[static_cast<size_t>(v)], gwhere);
    try {
      m.gate(v).set_params(params);
    } catch (const InputError& e) {
      throw ModelFormatError(fmt::format("{}: {}", gwhere, e.what()));
    }
  }
  std::vector<ParameterMap> comps;
  for (size_t k = 0; k < jc.size(); ++k)
    comps.push_back(
        params_from_json(jc[k], fmt::format("{}: parameters.experts.components[{}]", source, k)));
  const ParameterMap shared =
      params_from_json(je.contains("shared") ? je.at("shared") : json::object(),
                       source + ": parameters.experts.shared");
  try {
    m.experts().set_params(comps, shared);
  } catch (const InputError& e) {
    throw ModelFormatError(fmt::format("{}: parameters.experts: {}", source, e.what()));
  }
  return m;
}

}  // namespace

Model model_from_json(const std::string& text, const std::string& source) {
  const json j = parse_model_text(text, source);
  if (!j.is_object() || !j.contains("format") || j.at("format") != "moekit-model")
    throw ModelFormatError(
        fmt::format("{}: not a moekit model file (no \"format\": \"moekit-model\")", source));
  const auto version = whole_field(j, "version", std::numeric_limits<int>::min(),
                                   std::numeric_limits<int>::max(), source);
  if (version > kModelFormatVersion || version < 1)
    throw ModelFormatError(
        fmt::format("{}: model format version {} is not supported by moekit {} (reads 1 to {})",
                    source, version, MOEKIT_VERSION_STRING, kModelFormatVersion));
  try {
    return model_from_parsed(j, source);
  } catch (const ModelFormatError&) {
    throw;
  } catch (const InputError& e) {
    // A family's own check (a name it does not know, a shape it cannot take).
    throw ModelFormatError(fmt::format("{}: {}", source, e.what()));
  } catch (const json::exception& e) {
    throw ModelFormatError(fmt::format("{}: malformed model file: {}", source, json_message(e)));
  } catch (const NumericalError& e) {
    throw ModelFormatError(fmt::format("{}: invalid parameters: {}", source, e.what()));
  }
}

FitResult fit_record_from_json(const std::string& text, const std::string& source) {
  FitResult f;
  const json j = parse_model_text(text, source);
  if (!j.is_object() || !j.contains("fit")) return f;
  const std::string where = source + ": fit";
  const json& r = j.at("fit");
  if (!r.is_object()) throw ModelFormatError(fmt::format("{}: expected an object", where));
  // Every count is checked before it becomes an integer: "best_restart": 1e300 overflowed.
  auto count = [&](const char* name, long long absent, long long lo, long long hi) {
    return r.contains(name) ? whole_number(r.at(name), lo, hi, where, name) : absent;
  };
  const long long int_max = std::numeric_limits<int>::max();
  const long long long_max = std::numeric_limits<long>::max();
  auto number = [&](const char* name) { return optional_number(r, name, 0.0, where); };
  try {
    f.loglik = number("loglik");
    f.joint = r.contains("joint_loglik");
    f.joint_loglik = number("joint_loglik");
    f.n_obs = static_cast<long>(count("n_obs", 0, 0, long_max));
    f.weight_sum = number("weight_sum");
    if (!(std::isfinite(f.weight_sum) && f.weight_sum >= 0))
      throw ModelFormatError(
          fmt::format("{}: field 'weight_sum' must be a finite number >= 0", where));
    f.n_params = static_cast<long>(count("n_params", 0, 0, long_max));
    f.aic = number("aic");
    f.bic = number("bic");
    f.icl = number("icl");
    f.iterations = static_cast<int>(count("iterations", 0, 0, int_max));
    const std::string status = r.value("status", "");
    f.status = status == "converged"    ? FitStatus::Converged
               : status == "stopped"    ? FitStatus::Stopped
               : status == "separation" ? FitStatus::Separation
                                        : FitStatus::MaxIterations;
    f.stopping_rule = r.value("stopping_rule", "");
    f.restarts = static_cast<int>(count("restarts", 0, 0, int_max));
    f.best_restart = static_cast<int>(count("best_restart", 1, 1, int_max) - 1);
    f.init = r.value("init", "");
    f.backend = r.value("backend", "cpu");
    f.seconds = number("seconds");
    f.warnings = r.value("warnings", std::vector<std::string>{});
    if (r.contains("degenerate_components")) {
      const json& dc = r.at("degenerate_components");
      if (!dc.is_array())
        throw ModelFormatError(fmt::format("{}: 'degenerate_components' must be a list", where));
      for (const json& k : dc)
        f.degenerate.push_back(
            static_cast<long>(whole_number(k, 1, int_max, where, "degenerate_components") - 1));
    }
    f.loglik_trace = r.value("loglik_trace", std::vector<double>{});
    f.method = r.value("method", "em");
    f.warmup_iterations = static_cast<int>(count("warmup_iterations", 0, 0, int_max));
    if (r.contains("gradient_norm") && r.at("gradient_norm").is_number())
      f.gradient_norm = r.at("gradient_norm").get<double>();
    f.bootstrap_replicates = static_cast<int>(count("bootstrap_replicates", 0, 0, int_max));
    f.bootstrap_level = r.contains("bootstrap_level") ? number("bootstrap_level") : 0.95;
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
  } catch (const json::exception& e) {
    throw ModelFormatError(fmt::format("{}: {}", where, json_message(e)));
  }
  return f;
}

void save_model(const Model& model, const FitResult* fit, const std::string& path) {
  write_file_atomically(path, model_to_json(model, fit) + "\n");
}

Model load_model(const std::string& path) {
  return model_from_json(read_input_file(path, "model file"), path);
}

}  // namespace moekit
