#include "moekit/data/dataset.hpp"

#include "moekit/core/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>

namespace moekit {

namespace {

// Splits "y ~ x" into its parts; the expert formula must have a left side.
Formula parse_model_formula(const std::string& text) {
  Formula f = parse_formula(text);
  if (f.responses.empty())
    throw InputError(fmt::format("bad formula: '{}' has no response; write e.g. 'y ~ x'", text));
  return f;
}

void check_response_variance(const Matrix& y,
                             const std::vector<std::string>& names,
                             const CsvTable& t) {
  for (Index j = 0; j < y.cols(); ++j) {
    if (y.rows() > 0 && (y.col(j).array() == y(0, j)).all())
      throw InputError(
          SourceLocation{t.source, 0, 0, names[static_cast<size_t>(j)]},
          fmt::format("response has zero variance (every value is {}); nothing to model", y(0, j)));
  }
}

// Codes the grouping column (numbers or strings) by order of first appearance.
void read_groups(const CsvTable& t, const std::string& name, Dataset& d) {
  const int j = t.find(name);
  if (j < 0)
    throw InputError(SourceLocation{t.source, 0, 0, name},
                     "no such column in the data (the grouping after '|')");
  t.require_clean(j);
  const CsvColumn& c = t.columns[static_cast<size_t>(j)];
  const Index n = t.rows();
  d.group_column = name;
  d.group.resize(static_cast<size_t>(n));
  d.group_first.clear();
  std::unordered_map<double, Index> seen;
  for (Index i = 0; i < n; ++i) {
    const double key = c.kind == ColumnKind::Text ? c.codes[static_cast<size_t>(i)]
                                                  : c.values[static_cast<size_t>(i)];
    const auto [it, fresh] = seen.emplace(key, static_cast<Index>(d.group_first.size()));
    if (fresh) d.group_first.push_back(i);
    d.group[static_cast<size_t>(i)] = it->second;
  }
}

Dataset build(
    const CsvTable& t, const DataSpec& spec, bool need_response, bool learn, DataSpec* out) {
  Dataset d;
  d.source = t.source;
  d.lines = t.lines;
  const Index n = t.rows();

  if (spec.formula.empty()) {
    // No formula: every numeric column is a response (a Gaussian mixture of the data).
    std::vector<std::string> names = spec.response_names;
    if (learn) {
      names.clear();
      for (const auto& c : t.columns)
        if (c.kind == ColumnKind::Numeric) names.push_back(c.name);
      if (names.empty()) throw InputError(SourceLocation{t.source}, "no numeric columns to model");
    }
    if (need_response) {
      d.y.resize(n, static_cast<Index>(names.size()));
      for (size_t j = 0; j < names.size(); ++j) {
        auto e = parse_formula("~ `" + names[j] + "`").terms.at(0).factors.at(0);
        d.y.col(static_cast<Index>(j)) = evaluate(*e, t);
      }
      if (learn) check_response_variance(d.y, names, t);
    }
    d.x = Matrix::Ones(n, 1);
    d.z = Matrix::Ones(n, 1);
    if (learn) {
      out->response_names = names;
      out->x_names = {"(Intercept)"};
      out->z_names = {"(Intercept)"};
    }
    return d;
  }

  Formula f = parse_model_formula(spec.formula);
  // Predictions that need no response need no grouping either: a table without the column
  // is fine for them.
  if (!f.group.empty() && (need_response || t.find(f.group) >= 0)) read_groups(t, f.group, d);
  std::vector<std::string> all;
  for (const auto& c : t.columns) all.push_back(c.name);
  if (f.has_dot) expand_dot(f, all);
  DesignMatrixSpec xs = learn ? DesignMatrixSpec(f, t) : DesignMatrixSpec(f, spec.factor_levels);
  d.x = xs.build(t);

  Formula g = f;
  if (!spec.gate_formula.empty()) {
    g = parse_formula(spec.gate_formula);
    if (!g.responses.empty())
      throw InputError(fmt::format("bad gate formula '{}': it takes no response (write '~ z')",
                                   spec.gate_formula));
    if (!g.group.empty())
      throw InputError(
          fmt::format("bad gate formula '{}': the grouping belongs in --formula ('y ~ x | {}')",
                      spec.gate_formula, g.group));
    if (g.has_dot) expand_dot(g, all);
  }
  FactorLevels gate_levels = spec.factor_levels;
  DesignMatrixSpec zs = learn ? DesignMatrixSpec(g, t) : DesignMatrixSpec(g, gate_levels);
  d.z = zs.build(t);

  std::vector<std::string> response_names;
  for (const auto& r : f.responses) response_names.push_back(r->text);
  if (need_response) {
    if (spec.categorical_response) {
      if (f.responses.size() != 1 || f.responses[0]->kind != Expr::Kind::Column)
        throw InputError(fmt::format("formula '{}': class labels need a single column on the left",
                                     spec.formula));
      const std::string& name = f.responses[0]->name;
      std::vector<std::string> levels = spec.response_levels;
      if (learn) {
        const int j = t.find(name);
        if (j < 0)
          throw InputError(SourceLocation{t.source, 0, 0, name}, "no such column in the data");
        const CsvColumn& c = t.columns[static_cast<size_t>(j)];
        t.require_clean(j);
        levels.clear();
        if (c.kind == ColumnKind::Text) {
          levels = c.levels;
        } else {
          std::vector<double> v(c.values);
          std::sort(v.begin(), v.end());
          v.erase(std::unique(v.begin(), v.end()), v.end());
          for (double u : v) levels.push_back(fmt::format("{}", u));
        }
        if (levels.size() < 2)
          throw InputError(SourceLocation{t.source, 0, j + 1, name},
                           "class labels take a single value; nothing to model");
        out->response_levels = levels;
      }
      const std::vector<int> codes = factor_codes(t, name, levels);
      d.y.resize(n, 1);
      for (Index i = 0; i < n; ++i) d.y(i, 0) = codes[static_cast<size_t>(i)];
    } else {
      d.y.resize(n, static_cast<Index>(f.responses.size()));
      for (size_t j = 0; j < f.responses.size(); ++j) {
        if (f.responses[j]->kind == Expr::Kind::Column) {
          const int c = t.find(f.responses[j]->name);
          if (c >= 0 && t.columns[static_cast<size_t>(c)].kind == ColumnKind::Text)
            throw InputError(
                SourceLocation{t.source, 0, c + 1, f.responses[j]->name},
                "the response is a string column; use logistic experts for class labels");
        }
        d.y.col(static_cast<Index>(j)) = evaluate(*f.responses[j], t);
      }
      if (learn) check_response_variance(d.y, response_names, t);
    }
  }
  if (learn) {
    out->response_names = response_names;
    out->x_names = xs.column_names();
    out->z_names = zs.column_names();
    out->factor_levels = xs.levels();
    for (const auto& [k, v] : zs.levels()) out->factor_levels[k] = v;
  }
  return d;
}

}  // namespace

Dataset make_dataset(const CsvTable& table, DataSpec& spec) {
  DataSpec learned = spec;
  Dataset d = build(table, spec, true, true, &learned);
  spec = learned;
  return d;
}

Matrix group_rows(const Dataset& data, const ConstMatrixRef& m) {
  Matrix out(static_cast<Index>(data.group_first.size()), m.cols());
  for (size_t g = 0; g < data.group_first.size(); ++g)
    out.row(static_cast<Index>(g)) = m.row(data.group_first[g]);
  return out;
}

Dataset apply_spec(const CsvTable& table, const DataSpec& spec, bool need_response) {
  return build(table, spec, need_response, false, nullptr);
}

}  // namespace moekit
