#pragma once
// Model formulas in R's notation: "y1 + y2 ~ x1 + log(x2) + I(x1^2) + a:b - 1".
// The left side lists responses joined by '+'; the right side lists terms. Supported on
// the right: column names (`backquoted` when they hold odd characters), 1 / 0 / -1 for
// the intercept, '.' (every column not on the left), a:b interactions, a*b (= a + b + a:b),
// log/exp/sqrt/abs(expr), I(expr) with + - * / ^ inside, parentheses; and after the terms
// "| g", a grouping column (flexmix's notation).
//
// Limits, so that no formula (on the command line or in a model file) can exhaust the stack
// or the memory: at most kMaxFormulaLength characters, kMaxNesting levels of parentheses,
// calls and operators, kMaxTerms terms after expanding '*', kMaxInteraction factors in one
// term. Parsing takes time linear in the length (and in the terms '*' creates).

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace moekit {

inline constexpr std::size_t kMaxFormulaLength = 128 * 1024;  // Linux's limit on one argument
inline constexpr int kMaxNesting = 100;
inline constexpr std::size_t kMaxTerms = 32768;
inline constexpr std::size_t kMaxInteraction = 64;

// An arithmetic expression over columns, evaluated row-wise.
struct Expr {
  enum class Kind { Column, Number, Call, Binary, Negate };
  Kind kind = Kind::Number;
  std::string name;  // Column: column name; Call: function name; Binary: operator
  double number = 0.0;
  std::vector<std::shared_ptr<const Expr>> args;
  // Canonical text ("log(x)", "I(x^2)"): names the design-matrix column.
  std::string text;
  int depth = 1;  // levels of the tree (at most kMaxNesting): evaluation recurses this deep
  // Column names the expression reads.
  void columns(std::vector<std::string>& out) const;
};
using ExprPtr = std::shared_ptr<const Expr>;

// One term: the product (interaction) of its factors, e.g. a:log(b).
struct Term {
  std::vector<ExprPtr> factors;
  std::string label() const;  // "a:log(b)"
};

struct Formula {
  std::string text;
  std::vector<ExprPtr> responses;  // empty for a one-sided formula "~ z"
  std::vector<Term> terms;         // in order of appearance, duplicates removed
  bool intercept = true;
  bool has_dot = false;  // '.' appeared: expand with expand_dot() once the columns are known
  // Terms taken away with '-' after a '.' ("y ~ . - x"): expand_dot() leaves these columns
  // out, as R does.
  std::vector<std::string> removed;
  // "y ~ x | g": the column whose rows share one component (flexmix's grouped data,
  // repeated measurements); empty without '|'.
  std::string group;
};

// Throws InputError "bad formula: <what> at position P" followed by the formula and a caret.
Formula parse_formula(const std::string& text);

// Replaces '.' by every column not used on the left side (nor as the grouping, nor removed
// with '-'), in table order.
void expand_dot(Formula& f, const std::vector<std::string>& all_columns);

}  // namespace moekit
