#include "moekit/data/dataset.hpp"

#include "moekit/core/error.hpp"
#include "moekit/core/warning.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

namespace moekit {

namespace {

// Splits "y ~ x" into its parts; the expert formula must have a left side.
Formula parse_model_formula(const std::string& text) {
  Formula f = parse_formula(text);
  if (f.responses.empty())
    throw InputError(
        fmt::format("bad formula: '{}' has no response; write e.g. 'y ~ x'", excerpt(text)));
  return f;
}

// A response that is also read on the right ("tuned ~ tuned", "y ~ log(y)", a gate formula
// "~ y") makes a model of the response on itself: the fit would be degenerate and prediction
// would need the very values it predicts. R's lm drops such a term with a warning; moekit
// refuses it and says which term to remove ('.' already leaves the responses out).
std::vector<std::string> response_columns(const Formula& f) {
  std::vector<std::string> out;
  for (const auto& r : f.responses) r->columns(out);
  return out;
}

void refuse_response_on_right(const Formula& model,
                              const Formula& side,
                              const std::string& which,
                              const CsvTable& t) {
  const std::vector<std::string> cols = response_columns(model);
  const std::unordered_set<std::string> responses(cols.begin(), cols.end());
  for (const Term& term : side.terms)
    for (const ExprPtr& factor : term.factors) {
      std::vector<std::string> used;
      factor->columns(used);
      for (const auto& c : used)
        if (responses.count(c))
          throw InputError(SourceLocation{t.source, 0, t.find(c) + 1, c},
                           fmt::format("the response is also on the right side of {} (term "
                                       "'{}'): a response cannot explain itself; remove the term",
                                       which, excerpt(term.label())));
    }
  if (!side.group.empty() && responses.count(side.group))
    throw InputError(SourceLocation{t.source, 0, t.find(side.group) + 1, side.group},
                     "the response cannot also be the grouping after '|'");
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

// --weights: a numeric column of finite weights >= 0, not all zero; with grouped data one
// weight per group (flexmix's rule: the group's log-likelihood enters once, times its weight).
void read_weights(const CsvTable& t, const std::string& name, Dataset& d) {
  const int j = t.find(name);
  if (j < 0) throw InputError(SourceLocation{t.source, 0, 0, name}, "no such column (--weights)");
  t.require_clean(j);
  const CsvColumn& c = t.columns[static_cast<size_t>(j)];
  if (c.kind == ColumnKind::Text)
    throw InputError(SourceLocation{t.source, 0, j + 1, name},
                     "the --weights column must be numeric, not text");
  const Index n = t.rows();
  d.weights.resize(n);
  for (Index i = 0; i < n; ++i) {
    const double w = c.values[static_cast<size_t>(i)];
    if (!std::isfinite(w) || w < 0)
      throw InputError(SourceLocation{t.source, t.lines[static_cast<size_t>(i)], j + 1, name},
                       fmt::format("weight {} (--weights): weights must be finite and >= 0", w));
    d.weights(i) = w;
  }
  if (!(d.weights.sum() > 0))
    throw InputError(SourceLocation{t.source, 0, j + 1, name},
                     "every weight is zero (--weights): nothing to fit");
  for (Index i = 0; d.grouped() && i < n; ++i) {
    const Index first = d.group_first[static_cast<size_t>(d.group[static_cast<size_t>(i)])];
    if (d.weights(i) != d.weights(first))
      throw InputError(
          SourceLocation{t.source, t.lines[static_cast<size_t>(i)], j + 1, name},
          fmt::format("the weight {} differs from {} on line {} of the same group ('| {}'): "
                      "grouped data need one weight per group (as flexmix's weights=)",
                      d.weights(i), d.weights(first), t.lines[static_cast<size_t>(first)],
                      d.group_column));
  }
}

// Data to fit beyond kMaxDataMagnitude: their squares (variances, cross products) overflow
// double precision, and the fit failed with a misleading message ("rank deficient", "not
// positive definite"). Said with the scale, naming the first such cell.
void check_scale(const Matrix& m,
                 const std::vector<std::string>& names,
                 const Dataset& d,
                 const CsvTable& t) {
  for (Index j = 0; j < m.cols(); ++j)
    for (Index i = 0; i < m.rows(); ++i)
      if (std::abs(m(i, j)) > kMaxDataMagnitude) {
        const std::string& name = names[static_cast<size_t>(j)];
        throw InputError(
            SourceLocation{t.source, d.line_of(i), t.find(name) + 1, name},
            fmt::format("{:g} is beyond {:g} in magnitude, where squares overflow double "
                        "precision; rescale the column (for instance in units of {:g})",
                        m(i, j), kMaxDataMagnitude, kMaxDataMagnitude));
      }
}

// A spec read back from a model file sized the experts and gates by its names: the columns
// its formulas build now must be exactly those, or the parameters would be read past their
// ends (names and formula edited apart, levels added to a factor).
void check_stored_names(const char* field,
                        const std::vector<std::string>& built,
                        const std::vector<std::string>& stored,
                        const std::string& formula) {
  if (built == stored) return;
  size_t i = 0;
  while (i < built.size() && i < stored.size() && built[i] == stored[i]) ++i;
  throw ModelFormatError(fmt::format(
      "the model's {} ({} names) do not match the {} columns that its formula '{}' and factor "
      "levels give (first difference at {}: '{}' against '{}'); was the model file edited?",
      field, stored.size(), built.size(), excerpt(formula), i + 1,
      i < stored.size() ? excerpt(stored[i], 32) : "",
      i < built.size() ? excerpt(built[i], 32) : ""));
}

Dataset build(const CsvTable& t,
              const DataSpec& spec,
              bool need_response,
              bool learn,
              DataSpec* out,
              bool check_spread = true) {
  Dataset d;
  d.source = t.source;
  d.lines = t.lines;
  const Index n = t.rows();

  if (spec.formula.empty()) {
    // No formula: every numeric column is a response (a Gaussian mixture of the data).
    std::vector<std::string> names = spec.response_names;
    if (!learn && names.empty())
      throw ModelFormatError(
          "the model names no response columns and no formula (it was built in code, not "
          "fitted to a CSV): it cannot read a CSV file");
    if (learn) {
      names.clear();
      std::vector<std::string> skipped;
      for (const auto& c : t.columns) {
        if (c.name == spec.weights_column) continue;
        (c.kind == ColumnKind::Numeric ? names : skipped).push_back(c.name);
      }
      if (names.empty()) throw InputError(SourceLocation{t.source}, "no numeric columns to model");
      if (!skipped.empty()) {
        std::string list;
        for (size_t j = 0; j < skipped.size() && j < 8; ++j)
          list += fmt::format("{}'{}'", j ? ", " : "", excerpt(skipped[j], 32));
        if (skipped.size() > 8) list += fmt::format(" and {} more", skipped.size() - 8);
        warn(fmt::format(
            "{}: text column{} {} left out of the model (no --formula: every "
            "numeric column is a response); name the columns with --formula to "
            "choose",
            t.source == "-" ? "<stdin>" : t.source, skipped.size() > 1 ? "s" : "", list));
      }
    }
    if (need_response) {
      d.y.resize(n, static_cast<Index>(names.size()));
      for (size_t j = 0; j < names.size(); ++j) {
        // The column itself, not a formula: any name works, in time linear in the columns.
        Expr e;
        e.kind = Expr::Kind::Column;
        e.name = names[j];
        d.y.col(static_cast<Index>(j)) = evaluate(e, t);
      }
      if (learn && check_spread) check_response_spread(d.y, names, t.source);
    }
    d.x = Matrix::Ones(n, 1);
    d.z = Matrix::Ones(n, 1);
    if (need_response && !spec.weights_column.empty()) read_weights(t, spec.weights_column, d);
    if (!learn) {
      check_stored_names("x_names", {"(Intercept)"}, spec.x_names, "no formula");
      check_stored_names("z_names", {"(Intercept)"}, spec.z_names, "no formula");
    }
    if (learn) {
      check_scale(d.y, names, d, t);
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
  if (need_response && !spec.weights_column.empty()) read_weights(t, spec.weights_column, d);
  std::vector<std::string> all;
  for (const auto& c : t.columns)
    if (c.name != spec.weights_column) all.push_back(c.name);
  if (f.has_dot) expand_dot(f, all);
  if (learn) refuse_response_on_right(f, f, "the formula", t);
  if (learn && !spec.weights_column.empty()) {
    std::vector<std::string> used = response_columns(f);
    for (const Term& term : f.terms)
      for (const ExprPtr& factor : term.factors) factor->columns(used);
    if (f.group == spec.weights_column ||
        std::find(used.begin(), used.end(), spec.weights_column) != used.end())
      throw InputError::option("--weights", spec.weights_column,
                               fmt::format("the weights column is also in the formula '{}'; "
                                           "weights are not a covariate, response or grouping",
                                           excerpt(spec.formula)));
  }
  DesignMatrixSpec xs = learn ? DesignMatrixSpec(f, t) : DesignMatrixSpec(f, spec.factor_levels);
  if (!learn) check_stored_names("x_names", xs.column_names(), spec.x_names, spec.formula);
  d.x = xs.build(t);

  Formula g = f;
  if (!spec.gate_formula.empty()) {
    g = parse_formula(spec.gate_formula);
    if (!g.responses.empty())
      throw InputError(fmt::format("bad gate formula '{}': it takes no response (write '~ z')",
                                   excerpt(spec.gate_formula)));
    if (!g.group.empty())
      throw InputError(
          fmt::format("bad gate formula '{}': the grouping belongs in --formula ('y ~ x | {}')",
                      excerpt(spec.gate_formula), excerpt(g.group)));
    if (g.has_dot) {
      // The gate's '.' means the covariates: every column but the responses and the grouping.
      std::vector<std::string> skip = response_columns(f);
      if (!f.group.empty()) skip.push_back(f.group);
      const std::unordered_set<std::string> left_out(skip.begin(), skip.end());
      std::vector<std::string> covariates;
      for (const auto& c : all)
        if (!left_out.count(c)) covariates.push_back(c);
      expand_dot(g, covariates);
    }
    if (learn)
      refuse_response_on_right(f, g, fmt::format("--gate-formula '{}'", excerpt(spec.gate_formula)),
                               t);
  }
  FactorLevels gate_levels = spec.factor_levels;
  DesignMatrixSpec zs = learn ? DesignMatrixSpec(g, t) : DesignMatrixSpec(g, gate_levels);
  if (!learn)
    check_stored_names("z_names", zs.column_names(), spec.z_names,
                       spec.gate_formula.empty() ? spec.formula : spec.gate_formula);
  d.z = zs.build(t);

  std::vector<std::string> response_names;
  for (const auto& r : f.responses) response_names.push_back(r->text);
  if (!learn && !spec.categorical_response)
    check_stored_names("response_names", response_names, spec.response_names, spec.formula);
  if (need_response) {
    if (spec.categorical_response) {
      if (f.responses.size() != 1 || f.responses[0]->kind != Expr::Kind::Column)
        throw InputError(fmt::format("formula '{}': class labels need a single column on the left",
                                     excerpt(spec.formula)));
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
          // Class codes are whole numbers; a measurement such as 1.93 would make each of its
          // values a class of its own (117 "classes" for tonedata's tuned).
          for (size_t i = 0; i < c.values.size(); ++i)
            if (std::floor(c.values[i]) != c.values[i])
              throw InputError(
                  SourceLocation{t.source, t.lines[i], j + 1, name},
                  fmt::format("class labels must be text or whole numbers, not {}: logistic "
                              "experts model classes; use --experts linear (or laplace, t) for "
                              "a continuous response",
                              c.values[i]));
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
      if (learn && check_spread) check_response_spread(d.y, response_names, t.source);
    }
  }
  if (learn) {
    if (!spec.categorical_response) check_scale(d.y, response_names, d, t);
    check_scale(d.x, xs.column_names(), d, t);
    check_scale(d.z, zs.column_names(), d, t);
    out->response_names = response_names;
    out->x_names = xs.column_names();
    out->z_names = zs.column_names();
    out->factor_levels = xs.levels();
    for (const auto& [k, v] : zs.levels()) out->factor_levels[k] = v;
  }
  return d;
}

}  // namespace

void check_spec_names(const DataSpec& spec) {
  if (spec.formula.empty()) {
    check_stored_names("x_names", {"(Intercept)"}, spec.x_names, "no formula");
    check_stored_names("z_names", {"(Intercept)"}, spec.z_names, "no formula");
    return;
  }
  const Formula f = parse_model_formula(spec.formula);
  if (!spec.categorical_response) {
    std::vector<std::string> responses;
    for (const auto& r : f.responses) responses.push_back(r->text);
    check_stored_names("response_names", responses, spec.response_names, spec.formula);
  }
  if (!f.has_dot)
    check_stored_names("x_names", DesignMatrixSpec(f, spec.factor_levels).column_names(),
                       spec.x_names, spec.formula);
  const Formula g = spec.gate_formula.empty() ? f : parse_formula(spec.gate_formula);
  if (!g.has_dot)
    check_stored_names("z_names", DesignMatrixSpec(g, spec.factor_levels).column_names(),
                       spec.z_names, spec.gate_formula.empty() ? spec.formula : spec.gate_formula);
}

void check_response_spread(const ConstMatrixRef& y,
                           const std::vector<std::string>& names,
                           const std::string& source) {
  for (Index j = 0; j < y.cols(); ++j) {
    if (y.rows() > 0 && (y.col(j).array() == y(0, j)).all())
      throw InputError(
          SourceLocation{source, 0, 0, names[static_cast<size_t>(j)]},
          fmt::format("response has zero variance (every value is {}); nothing to model", y(0, j)));
  }
}

Dataset make_dataset(const CsvTable& table, DataSpec& spec, bool check_spread) {
  DataSpec learned = spec;
  Dataset d = build(table, spec, true, true, &learned, check_spread);
  spec = learned;
  return d;
}

Matrix group_rows(const Dataset& data, const ConstMatrixRef& m) {
  Matrix out(static_cast<Index>(data.group_first.size()), m.cols());
  for (size_t g = 0; g < data.group_first.size(); ++g)
    out.row(static_cast<Index>(g)) = m.row(data.group_first[g]);
  return out;
}

Matrix weighted_rows(const Dataset& data, const ConstMatrixRef& m) {
  if (!data.weighted()) return m;
  return m.array().colwise() * data.weights.array();
}

Vector weighted_column_sums(const Dataset& data, const ConstMatrixRef& m) {
  if (!data.weighted()) return m.colwise().sum().transpose();
  return weighted_rows(data, m).colwise().sum().transpose();
}

Dataset apply_spec(const CsvTable& table, const DataSpec& spec, bool need_response) {
  return build(table, spec, need_response, false, nullptr);
}

}  // namespace moekit
