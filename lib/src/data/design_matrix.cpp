#include "moekit/data/design_matrix.hpp"

#include "moekit/core/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace moekit {

namespace {

int column_or_throw(const CsvTable& t, const std::string& name) {
  const int j = t.find(name);
  if (j < 0) {
    std::string known;
    for (size_t i = 0; i < t.columns.size() && i < 12; ++i)
      known += (i ? ", " : "") + excerpt(t.columns[i].name, 32);
    if (t.columns.size() > 12) known += ", ...";
    throw InputError(SourceLocation{t.source, 0, 0, name},
                     fmt::format("no such column in the data (columns: {})", known));
  }
  return j;
}

bool is_factor_expr(const Expr& e, const CsvTable& t) {
  if (e.kind != Expr::Kind::Column) return false;
  const int j = t.find(e.name);
  return j >= 0 && t.columns[static_cast<size_t>(j)].kind == ColumnKind::Text;
}

}  // namespace

Vector evaluate(const Expr& e, const CsvTable& t) {
  const Index n = t.rows();
  switch (e.kind) {
    case Expr::Kind::Number:
      return Vector::Constant(n, e.number);
    case Expr::Kind::Column: {
      const int j = column_or_throw(t, e.name);
      const CsvColumn& c = t.columns[static_cast<size_t>(j)];
      if (c.kind == ColumnKind::Text)
        throw InputError(
            SourceLocation{t.source, 0, j + 1, c.name},
            fmt::format("string column used where a number is needed (e.g. '{}' on line {})",
                        c.levels.empty()
                            ? ""
                            : excerpt(c.levels[static_cast<size_t>(std::max(0, c.codes[0]))]),
                        t.lines.empty() ? 0 : t.lines[0]));
      t.require_clean(j);
      return Eigen::Map<const Vector>(c.values.data(), n);
    }
    case Expr::Kind::Negate:
      return -evaluate(*e.args[0], t);
    case Expr::Kind::Call: {
      Vector a = evaluate(*e.args[0], t);
      if (e.name == "log")
        a = a.array().log();
      else if (e.name == "log2")
        a = a.array().log() / std::log(2.0);
      else if (e.name == "log10")
        a = a.array().log10();
      else if (e.name == "exp")
        a = a.array().exp();
      else if (e.name == "sqrt")
        a = a.array().sqrt();
      else if (e.name == "abs")
        a = a.array().abs();
      for (Index i = 0; i < n; ++i)
        if (!std::isfinite(a(i)))
          throw InputError(SourceLocation{t.source, t.lines[static_cast<size_t>(i)]},
                           fmt::format("{} is not finite ({} of {})", e.text, e.name,
                                       evaluate(*e.args[0], t)(i)));
      return a;
    }
    case Expr::Kind::Binary: {
      const Vector a = evaluate(*e.args[0], t), b = evaluate(*e.args[1], t);
      Vector r(n);
      if (e.name == "+")
        r = a + b;
      else if (e.name == "-")
        r = a - b;
      else if (e.name == "*")
        r = a.cwiseProduct(b);
      else if (e.name == "/")
        r = a.cwiseQuotient(b);
      else
        r = a.binaryExpr(b, [](double u, double v) { return std::pow(u, v); });
      for (Index i = 0; i < n; ++i)
        if (!std::isfinite(r(i)))
          throw InputError(SourceLocation{t.source, t.lines[static_cast<size_t>(i)]},
                           fmt::format("{} is not finite on this row", e.text));
      return r;
    }
  }
  return Vector();
}

std::vector<int> factor_codes(const CsvTable& t,
                              const std::string& name,
                              const std::vector<std::string>& levels) {
  const int j = column_or_throw(t, name);
  const CsvColumn& c = t.columns[static_cast<size_t>(j)];
  std::vector<int> out(static_cast<size_t>(t.rows()));
  if (c.kind != ColumnKind::Text) {
    // A numeric column read where a factor was fitted (e.g. labels 0/1): match by text.
    t.require_clean(j);
    for (size_t i = 0; i < out.size(); ++i) {
      const std::string s = fmt::format("{}", c.values[i]);
      auto it = std::find(levels.begin(), levels.end(), s);
      if (it == levels.end())
        throw InputError(
            SourceLocation{t.source, t.lines[i], j + 1, name},
            fmt::format("level '{}' was not seen when the model was fitted", excerpt(s)));
      out[i] = static_cast<int>(it - levels.begin());
    }
    return out;
  }
  t.require_clean(j);
  std::vector<int> remap(c.levels.size(), -1);
  for (size_t l = 0; l < c.levels.size(); ++l) {
    auto it = std::find(levels.begin(), levels.end(), c.levels[l]);
    if (it != levels.end()) remap[l] = static_cast<int>(it - levels.begin());
  }
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = remap[static_cast<size_t>(c.codes[i])];
    if (out[i] < 0)
      throw InputError(SourceLocation{t.source, t.lines[i], j + 1, name},
                       fmt::format("level '{}' was not seen when the model was fitted",
                                   excerpt(c.levels[static_cast<size_t>(c.codes[i])])));
  }
  return out;
}

DesignMatrixSpec::DesignMatrixSpec(const Formula& formula, const CsvTable& table)
    : formula_(formula) {
  for (const Term& term : formula_.terms)
    for (const ExprPtr& f : term.factors) {
      std::vector<std::string> cols;
      f->columns(cols);
      for (const auto& c : cols) column_or_throw(table, c);
      if (is_factor_expr(*f, table)) {
        const CsvColumn& c = table.columns[static_cast<size_t>(table.find(f->name))];
        table.require_clean(table.find(f->name));
        levels_[f->name] = c.levels;
      }
    }
  plan();
  // A factor with one level coded by contrasts gives no column at all: it would vanish from
  // the model without a word. R refuses it too ("contrasts can be applied only to factors
  // with 2 or more levels").
  for (const auto& term : terms_)
    for (const Factor& f : term)
      if (f.is_factor && !f.full_coding && levels_.at(f.expr->name).size() < 2) {
        const int j = table.find(f.expr->name);
        throw InputError(
            SourceLocation{table.source, 0, j + 1, f.expr->name},
            fmt::format(
                "factor has a single level ('{}'): there is nothing to contrast it with; "
                "remove it from the formula",
                levels_.at(f.expr->name).empty() ? "" : excerpt(levels_.at(f.expr->name).front())));
      }
}

DesignMatrixSpec::DesignMatrixSpec(const Formula& formula, FactorLevels levels)
    : formula_(formula), levels_(std::move(levels)) {
  plan();
}

void DesignMatrixSpec::plan() {
  // R's rule (Chambers & Hastie 1992, Statistical Models in S, 2.4.1): a factor in a term is
  // coded by contrasts when the term without it is in the model, else by indicators.
  std::set<std::string> present;
  if (formula_.intercept) present.insert("");
  for (const Term& t : formula_.terms) {
    std::vector<std::string> labels;
    for (const auto& f : t.factors) labels.push_back(f->text);
    std::sort(labels.begin(), labels.end());
    std::string key;
    for (const auto& l : labels) key += l + "\x1f";
    present.insert(key);
  }
  auto key_without = [](const Term& t, size_t skip) {
    std::vector<std::string> labels;
    for (size_t i = 0; i < t.factors.size(); ++i)
      if (i != skip) labels.push_back(t.factors[i]->text);
    std::sort(labels.begin(), labels.end());
    std::string key;
    for (const auto& l : labels) key += l + "\x1f";
    return labels.empty() ? std::string() : key;
  };

  terms_.clear();
  names_.clear();
  if (formula_.intercept) names_.push_back("(Intercept)");
  for (const Term& t : formula_.terms) {
    std::vector<Factor> factors;
    std::vector<std::vector<std::string>> parts;  // column-name pieces per factor
    for (size_t i = 0; i < t.factors.size(); ++i) {
      Factor f;
      f.expr = t.factors[i];
      f.is_factor = f.expr->kind == Expr::Kind::Column && levels_.count(f.expr->name) > 0;
      f.full_coding = f.is_factor && present.count(key_without(t, i)) == 0;
      std::vector<std::string> piece;
      if (f.is_factor) {
        const auto& lv = levels_.at(f.expr->name);
        for (size_t l = f.full_coding ? 0 : 1; l < lv.size(); ++l)
          piece.push_back(f.expr->text + lv[l]);
      } else {
        piece.push_back(f.expr->text);
      }
      parts.push_back(piece);
      factors.push_back(f);
    }
    // Factor levels multiply: three factors of 1,000 levels in one interaction would be 10^9
    // columns. Counted before any name is built.
    size_t columns = 1;
    for (const auto& piece : parts) {
      columns *= std::max<size_t>(piece.size(), 1);
      if (columns > kMaxDesignColumns - std::min(names_.size(), kMaxDesignColumns))
        throw InputError(fmt::format(
            "the formula gives more than {} design columns (the term '{}' alone multiplies the "
            "levels of its factors)",
            kMaxDesignColumns, excerpt(t.label(), 64)));
    }
    // Column names: the first factor varies fastest, as in R.
    std::vector<std::string> combined{""};
    for (const auto& piece : parts) {
      std::vector<std::string> next;
      for (const auto& p : piece)
        for (const auto& c : combined) next.push_back(c.empty() ? p : c + ":" + p);
      combined = std::move(next);
    }
    // Reorder so that the first factor varies fastest: built above with the last factor
    // outermost, which is what this loop nesting produces.
    for (const auto& c : combined) names_.push_back(c);
    terms_.push_back(std::move(factors));
  }
}

Matrix DesignMatrixSpec::build(const CsvTable& table) const {
  const Index n = table.rows();
  Matrix X(n, static_cast<Index>(names_.size()));
  Index col = 0;
  if (formula_.intercept) X.col(col++).setOnes();
  for (const auto& term : terms_) {
    std::vector<Vector> combined{Vector::Ones(n)};
    for (const Factor& f : term) {
      std::vector<Vector> piece;
      if (f.is_factor) {
        const auto& lv = levels_.at(f.expr->name);
        const std::vector<int> codes = factor_codes(table, f.expr->name, lv);
        for (size_t l = f.full_coding ? 0 : 1; l < lv.size(); ++l) {
          Vector ind(n);
          for (Index i = 0; i < n; ++i)
            ind(i) = codes[static_cast<size_t>(i)] == static_cast<int>(l) ? 1.0 : 0.0;
          piece.push_back(std::move(ind));
        }
      } else {
        if (f.expr->kind == Expr::Kind::Column) {
          const int j = table.find(f.expr->name);
          if (j >= 0 && table.columns[static_cast<size_t>(j)].kind == ColumnKind::Text)
            throw InputError(SourceLocation{table.source, 0, j + 1, f.expr->name},
                             "was numeric when the model was fitted but holds strings here");
        }
        piece.push_back(evaluate(*f.expr, table));
      }
      std::vector<Vector> next;
      for (const auto& p : piece)
        for (const auto& c : combined) next.push_back(c.cwiseProduct(p));
      combined = std::move(next);
    }
    for (const auto& c : combined) X.col(col++) = c;
  }
  return X;
}

}  // namespace moekit
