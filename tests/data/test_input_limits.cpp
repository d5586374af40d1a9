// Hostile and odd input to the data layer (issue 24): deep formulas, huge formulas and
// tables, text that is not UTF-8, settings that cannot work. Each is an error that names the
// place, or a warning that says what was done; none is a crash or a quadratic wait.

#include "moekit/core/error.hpp"
#include "moekit/core/input_file.hpp"
#include "moekit/core/warning.hpp"
#include "moekit/data/csv.hpp"
#include "moekit/data/dataset.hpp"
#include "moekit/data/formula.hpp"
#include "support/temp_file.hpp"

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <cstdlib>
#include <string>
#include <vector>

using namespace moekit;
using Catch::Matchers::Contains;

namespace {

std::vector<std::string> labels(const Formula& f) {
  std::vector<std::string> out;
  for (const auto& t : f.terms) out.push_back(t.label());
  return out;
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  out.reserve(s.size() * static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

// Collects the library's warnings while in scope.
class CaptureWarnings {
 public:
  CaptureWarnings() {
    previous_ = set_warning_handler([this](const std::string& m) { messages.push_back(m); });
  }
  ~CaptureWarnings() { set_warning_handler(previous_); }
  std::vector<std::string> messages;

 private:
  WarningHandler previous_;
};

const std::string kTone = std::string(MOEKIT_DATASETS_DIR) + "/tonedata.csv";
const std::string kNPreg = std::string(MOEKIT_DATASETS_DIR) + "/NPreg.csv";

}  // namespace

TEST_CASE("deeply nested formulas are refused, not a stack overflow", "[formula][limits]") {
  // About 8,000 levels overflowed the stack (SIGSEGV) before the parser counted them.
  const int n = 8000;
  for (const std::string& text :
       {"y ~ I(" + repeat("(", n) + "x" + repeat(")", n) + ")",
        "y ~ " + repeat("log(", n) + "x" + repeat(")", n),
        "y ~ " + repeat("(", n) + "x" + repeat(")", n),  // parentheses of terms
        "y ~ I(" + repeat("-", n) + "x)",                // unary minus
        "y ~ I(x" + repeat("^x", n) + ")",               // right-associative power
        "y ~ I(x" + repeat("+x", n) + ")"})              // a flat chain is a deep tree
    CHECK_THROWS_WITH(parse_formula(text), Contains("bad formula") && Contains("100"));
  // The limit leaves room for any real formula.
  CHECK_NOTHROW(parse_formula("y ~ I(" + repeat("(", 90) + "x" + repeat(")", 90) + ")"));
  CHECK_NOTHROW(parse_formula("y ~ I(x" + repeat("+x", 90) + ")"));
}

TEST_CASE("formula errors quote a window of a long formula", "[formula][limits]") {
  const std::string text = "y ~ " + repeat("x + ", 5000) + "* z";
  try {
    parse_formula(text);
    FAIL("no error");
  } catch (const InputError& e) {
    const std::string m = e.what();
    CHECK(m.size() < 400);
    CHECK_THAT(m, Contains("position 20005") && Contains("  ...x + x") && Contains("x + * z"));
    // The caret stands under the '*'.
    const auto l1 = m.find('\n'), l2 = m.find('\n', l1 + 1);
    const std::string shown = m.substr(l1 + 1, l2 - l1 - 1), caret = m.substr(l2 + 1);
    CHECK(shown.find('*') == caret.find('^'));
  }
  CHECK_THROWS_WITH(parse_formula("y ~ " + std::string(kMaxFormulaLength, 'x')),
                    Contains("characters, more than"));
}

TEST_CASE("'*' of many columns parses in linear time, within a cap", "[formula][limits]") {
  // y ~ c0*c1*...*c13: 2^14 - 1 terms. The duplicate check used to compare each new term with
  // every term so far: minutes. A set makes it linear.
  std::string text = "y ~ c0";
  for (int i = 1; i < 14; ++i) text += fmt::format("*c{}", i);
  const Formula f = parse_formula(text);
  CHECK(f.terms.size() == (1u << 14) - 1);
  CHECK(f.terms.back().label() == "c0:c1:c2:c3:c4:c5:c6:c7:c8:c9:c10:c11:c12:c13");
  CHECK_THROWS_WITH(parse_formula(text + "*c14*c15"), Contains("more than 32768 terms"));
  // Repeated factors keep the count down but not the work: a budget over the whole formula.
  std::string repeated = "y ~ c0";
  for (int i = 1; i < 13; ++i) repeated += fmt::format("*c{}", i);
  for (int i = 0; i < 200; ++i) repeated += "*c0";  // ~12,000 terms, each '*' costs 25,000
  CHECK_THROWS_WITH(parse_formula(repeated), Contains("terms in all"));
  // Removing terms is linear too, and keeps R's order (a term added back goes last).
  std::string sum = "y ~ a0", minus;
  for (int i = 1; i < 5000; ++i) sum += fmt::format(" + a{}", i);
  for (int i = 0; i < 4999; ++i) minus += fmt::format(" - a{}", i);
  CHECK(labels(parse_formula(sum + minus)) == std::vector<std::string>{"a4999"});
  CHECK(labels(parse_formula("y ~ a + b - a + a")) == std::vector<std::string>{"b", "a"});
  // a:a is a (as in R); a long chain of distinct factors is refused.
  CHECK(labels(parse_formula("y ~ a:a + a:b:a")) == std::vector<std::string>{"a", "a:b"});
  std::string chain = "y ~ a0";
  for (int i = 1; i < 70; ++i) chain += fmt::format(":a{}", i);
  CHECK_THROWS_WITH(parse_formula(chain), Contains("more than 64 factors"));
}

TEST_CASE("'- x' removes x from '.', as in R", "[formula][dataset]") {
  const CsvTable tone = read_csv(kTone);
  DataSpec s;
  s.formula = "tuned ~ . - stretchratio";
  make_dataset(tone, s);
  // tonedata has one other column: the model is the intercept alone (R: tuned ~ 1).
  CHECK(s.x_names == std::vector<std::string>{"(Intercept)"});

  const CsvTable npreg = read_csv(kNPreg);
  DataSpec n;
  n.formula = "yn ~ . - class - yb - yp - id1 - id2";
  make_dataset(npreg, n);
  CHECK(n.x_names == std::vector<std::string>{"(Intercept)", "x"});

  // A term added back after its removal stays; '- .' is refused.
  CHECK(parse_formula("y ~ . - x").removed == std::vector<std::string>{"x"});
  CHECK(parse_formula("y ~ x - x").removed.empty());  // no '.' before: nothing to remember
  CHECK_THROWS_WITH(parse_formula("y ~ a - ."), Contains("'- .'"));
}

TEST_CASE("a response on the right side is an error naming the term", "[dataset][errors]") {
  const CsvTable t = parse_csv("y,x,z\n1,2,3\n2,1,4\n3,5,2\n4,4,4\n", "r.csv");
  for (const char* formula : {"y ~ y", "y ~ x + log(y)", "y ~ I(y^2)", "y ~ x:y"}) {
    DataSpec s;
    s.formula = formula;
    CHECK_THROWS_WITH(make_dataset(t, s),
                      Contains("r.csv") && Contains("'y'") && Contains("response is also"));
  }
  DataSpec gate;
  gate.formula = "y ~ x";
  gate.gate_formula = "~ z + y";
  CHECK_THROWS_WITH(make_dataset(t, gate), Contains("--gate-formula") && Contains("'y'"));
  // '.' leaves the responses out, in the gate formula too.
  DataSpec dot;
  dot.formula = "y ~ x";
  dot.gate_formula = "~ .";
  make_dataset(t, dot);
  CHECK(dot.z_names == std::vector<std::string>{"(Intercept)", "x", "z"});
}

TEST_CASE("a one-level factor is an error, not a silently dropped term", "[dataset][errors]") {
  const CsvTable t = parse_csv("y,x,g\n1,2,a\n2,1,a\n3,5,a\n4,4,a\n", "f.csv");
  DataSpec s;
  s.formula = "y ~ x + g";
  CHECK_THROWS_WITH(make_dataset(t, s), Contains("f.csv") && Contains("column 3 ('g')") &&
                                            Contains("single level ('a')"));
  // Without an intercept its indicator is a column of ones: allowed, as in R.
  DataSpec full;
  full.formula = "y ~ g - 1";
  make_dataset(t, full);
  CHECK(full.x_names == std::vector<std::string>{"ga"});
}

TEST_CASE("text columns left out of 'every numeric column' are named in a warning", "[dataset]") {
  CaptureWarnings w;
  DataSpec s;
  make_dataset(parse_csv("a,lab,b,`odd\n1,u,4,5\n2,v,6,1\n3,u,5,2\n", "w.csv"), s);
  CHECK(s.response_names == std::vector<std::string>{"a", "b", "`odd"});
  REQUIRE(w.messages.size() == 1);
  CHECK_THAT(w.messages[0], Contains("w.csv") && Contains("'lab'") && Contains("left out"));
  // All numeric: no warning.
  make_dataset(parse_csv("a,b\n1,4\n2,6\n3,5\n", "w.csv"), s);
  CHECK(w.messages.size() == 1);
}

TEST_CASE("column names must be UTF-8; bad text is an error where used", "[csv][utf8]") {
  // Latin-1 "é" (0xE9) in a name: refused at read time with line and column.
  CHECK_THROWS_WITH(parse_csv("a,caf\xE9\n1,2\n", "l1.csv"), Contains("l1.csv:line 1, column 2") &&
                                                                 Contains("not valid UTF-8") &&
                                                                 Contains("0xE9"));
  // Overlong forms and surrogates are not UTF-8 either.
  CHECK_THROWS_WITH(parse_csv("\xC0\xAF\n1\n", "o.csv"), Contains("not valid UTF-8"));
  CHECK_THROWS_WITH(parse_csv("\xED\xA0\x80\n1\n", "s.csv"), Contains("not valid UTF-8"));
  CHECK_NOTHROW(parse_csv("caf\xC3\xA9,\xF0\x9F\x98\x80\n1,2\n", "u.csv"));
  // A level that is not UTF-8: only a problem when the column is used.
  const CsvTable t = parse_csv("y,x,g,h\n1,2,a,u\n2,1,b\xFF,v\n3,5,a,u\n4,4,b\xFF,v\n", "g.csv");
  DataSpec used;
  used.formula = "y ~ x + g";
  CHECK_THROWS_WITH(make_dataset(t, used), Contains("g.csv:line 3, column 3 ('g')") &&
                                               Contains("not valid UTF-8") && Contains("0xFF"));
  DataSpec unused;
  unused.formula = "y ~ x + h";
  CHECK_NOTHROW(make_dataset(t, unused));
}

TEST_CASE("a delimiter that cannot separate fields is refused", "[csv][errors]") {
  for (char d : {'"', '\n', '\r'}) {
    CsvOptions o;
    o.delimiter = d;
    CHECK_THROWS_WITH(parse_csv("a,b\n1,2\n", "d.csv", o), Contains("--delimiter"));
  }
}

TEST_CASE("a huge cell is quoted as an excerpt", "[csv][errors]") {
  const std::string cell(10 * 1000 * 1000, 'z');
  const CsvTable t = parse_csv("y,x\n1,2\n2," + cell + "\n3,4\n", "big.csv");
  DataSpec s;
  s.formula = "y ~ x";
  try {
    make_dataset(t, s);
    FAIL("no error");
  } catch (const InputError& e) {
    const std::string m = e.what();
    CHECK(m.size() < 300);
    CHECK_THAT(m, Contains("big.csv:line 3, column 2 ('x')") && Contains("(10000000 bytes)"));
  }
  // A huge column name too; excerpts never split a UTF-8 character.
  CHECK(excerpt(std::string(100, 'a')) == std::string(64, 'a') + "... (100 bytes)");
  CHECK(excerpt(std::string(63, 'a') + "\xC3\xA9" + "bb") ==
        std::string(63, 'a') + "... (67 bytes)");
}

TEST_CASE("a directory given as a data file says so", "[csv][errors]") {
  CHECK_THROWS_WITH(read_csv(MOEKIT_DATASETS_DIR),
                    Contains(MOEKIT_DATASETS_DIR) && Contains("is a directory"));
  CHECK_THROWS_WITH(read_input_file(MOEKIT_TESTS_DIR, "model file"),
                    Contains("is a directory, not a model file"));
}

TEST_CASE("100,000 columns are read and looked up in linear time", "[csv][limits]") {
  // Every column found by a scan made this quadratic: many minutes for 100,000 columns.
  const int n = 100000;
  std::string header = "y", row1 = "1", row2 = "2";
  for (int j = 0; j < n; ++j) {
    header += fmt::format(",c{}", j);
    row1 += ",0.5";
    row2 += fmt::format(",{}", j % 7);
  }
  const CsvTable t = parse_csv(header + "\n" + row1 + "\n" + row2 + "\n", "wide.csv");
  REQUIRE(t.columns.size() == n + 1u);
  for (int j = 0; j < n; ++j) REQUIRE(t.find(fmt::format("c{}", j)) == j + 1);
  CHECK(t.find("nope") == -1);
  DataSpec s;
  s.formula = "y ~ .";
  const Dataset d = make_dataset(t, s);
  CHECK(d.x.cols() == n + 1);
  DataSpec all;  // no formula: every numeric column a response
  CHECK(make_dataset(t, all).y.cols() == n + 1);
}
