#pragma once
// A data set ready for fitting: responses Y, expert covariates X and gate covariates Z,
// built from a CSV table by the model's formulas. DataSpec records how, so that new data
// are read the same way at prediction time.

#include "moekit/core/types.hpp"
#include "moekit/data/csv.hpp"
#include "moekit/data/design_matrix.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace moekit {

struct DataSpec {
  std::string formula;       // "y ~ x"; empty: every numeric column is a response, no covariates
  std::string gate_formula;  // "~ z"; empty: the gate reads the right side of `formula`
  bool categorical_response = false;  // class labels on the left (logistic experts)
  // --weights: the column of observation weights (frequency or survey weights); empty: none.
  // It is never a covariate or a response ('.' and the no-formula default leave it out).
  std::string weights_column;
  // Learned when the data set is first built:
  std::vector<std::string> response_names;
  std::vector<std::string> response_levels;  // categorical responses only
  std::vector<std::string> x_names, z_names;
  FactorLevels factor_levels;
};

struct Dataset {
  Matrix y;  // n x q numeric responses, or n x 1 class codes 0..L-1 when categorical
  Matrix x;  // n x p expert design matrix (at least the intercept)
  Matrix z;  // n x r gate design matrix
  std::vector<std::int64_t> lines;  // source line of each row, for messages
  std::string source;
  // Grouped data ("y ~ x | g"): the group of each row (0-based, in order of first
  // appearance) and the first row of each group; empty when every row is its own group.
  std::vector<Index> group;
  std::vector<Index> group_first;
  std::string group_column;  // the grouping column's name, for messages
  // Observation weights w_i (finite, >= 0), read from DataSpec::weights_column when a
  // response is read; empty: every row weighs 1. Every sum over rows in the E- and M-steps is
  // weighted: log-likelihood sum_i w_i log p(y_i | x_i), M-step posteriors w_i h_ik.
  Vector weights;
  Index rows() const { return y.rows() > 0 ? y.rows() : x.rows(); }
  bool grouped() const { return !group.empty(); }
  bool weighted() const { return weights.size() > 0; }
  // The weight of row i (1 without weights).
  double weight(Index i) const { return weighted() ? weights(i) : 1.0; }
  // The number of observations in the criteria: sum_i w_i with weights (flexmix's nobs()),
  // otherwise the rows.
  double observations() const { return weighted() ? weights.sum() : static_cast<double>(rows()); }
  // The source line of row i for messages (i + 1 when the rows have no recorded lines).
  std::int64_t line_of(Index i) const {
    return i < static_cast<Index>(lines.size()) ? lines[static_cast<size_t>(i)] : i + 1;
  }
  Index groups() const { return grouped() ? static_cast<Index>(group_first.size()) : rows(); }
};

// The rows of m (n rows) at the first row of each group: G rows.
Matrix group_rows(const Dataset& data, const ConstMatrixRef& m);

// The rows of m, each multiplied by its weight (m itself without weights).
Matrix weighted_rows(const Dataset& data, const ConstMatrixRef& m);
// The column sums of weighted_rows(data, m), without copying m when there are no weights.
Vector weighted_column_sums(const Dataset& data, const ConstMatrixRef& m);

// The largest magnitude of a value a model is fitted to (responses and design columns): its
// square stays finite, as for a model's parameters.
inline constexpr double kMaxDataMagnitude = 1e150;

// Builds the data set and completes `spec` (names, levels). Throws InputError for unknown
// columns, bad cells in used columns, values beyond kMaxDataMagnitude, a constant response
// column (unless !check_spread: the table is one process's share of the rows, and the
// caller checks the spread over all of them), too few rows.
Dataset make_dataset(const CsvTable& table, DataSpec& spec, bool check_spread = true);

// InputError naming the first column of y (n x q, `names` its columns, `source` the file)
// whose values are all equal: a response with zero variance leaves nothing to model.
void check_response_spread(const ConstMatrixRef& y,
                           const std::vector<std::string>& names,
                           const std::string& source);

// A completed spec read back from a model file against its own formulas: the response names
// and the design columns they give with the stored factor levels (InputError naming the
// field). A formula with '.' needs the data's columns: apply_spec checks it then.
void check_spec_names(const DataSpec& spec);

// Applies a completed spec to new data. Without `need_response` the left side is not read
// (prediction of means); y is then empty. A spec that does not describe the columns its
// formulas build (an edited model file) is a ModelFormatError: callers add the file's name.
Dataset apply_spec(const CsvTable& table, const DataSpec& spec, bool need_response);

}  // namespace moekit
