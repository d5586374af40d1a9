#pragma once
// Turning the right side of a formula into a numeric design matrix, as R's model.matrix:
// an intercept column "(Intercept)", numeric expressions as they are, string columns as
// factors with treatment contrasts (first sorted level is the reference) where the term
// without that factor is in the model (the intercept counting as the empty term), and
// full indicator coding otherwise; interactions are row-wise products.

#include "moekit/core/types.hpp"
#include "moekit/data/csv.hpp"
#include "moekit/data/formula.hpp"

#include <map>
#include <string>
#include <vector>

namespace moekit {

// The most columns a design matrix may have (2^20): beyond, the names alone exhaust memory.
inline constexpr size_t kMaxDesignColumns = size_t{1} << 20;

// Levels of each factor column, learned from the data a model was fitted on.
using FactorLevels = std::map<std::string, std::vector<std::string>>;

// Evaluates an expression on every row of a table. Throws InputError naming the column
// (and line) for unknown or string columns, bad cells and non-finite results.
Vector evaluate(const Expr& e, const CsvTable& table);

class DesignMatrixSpec {
 public:
  DesignMatrixSpec() = default;
  // Learns factor levels from `table`; the formula's left side is ignored here.
  DesignMatrixSpec(const Formula& formula, const CsvTable& table);
  // Rebuilds the spec of a fitted model (formula text and stored levels).
  DesignMatrixSpec(const Formula& formula, FactorLevels levels);

  // The design matrix of `table` (n x p). Levels unseen at fit time are an InputError.
  Matrix build(const CsvTable& table) const;

  const std::vector<std::string>& column_names() const { return names_; }
  const FactorLevels& levels() const { return levels_; }
  const Formula& formula() const { return formula_; }

 private:
  void plan();
  Formula formula_;
  FactorLevels levels_;
  struct Factor {
    ExprPtr expr;
    bool is_factor = false;
    bool full_coding = false;
  };
  std::vector<std::vector<Factor>> terms_;
  std::vector<std::string> names_;
};

// Row codes of a factor column mapped onto `levels` (from fit time); InputError for an
// unseen level, naming the line.
std::vector<int> factor_codes(const CsvTable& table,
                              const std::string& column,
                              const std::vector<std::string>& levels);

}  // namespace moekit
