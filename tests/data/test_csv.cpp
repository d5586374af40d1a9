#include "moekit/core/error.hpp"
#include "moekit/data/csv.hpp"
#include "moekit/data/dataset.hpp"
#include "support/temp_file.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace moekit;
using Catch::Matchers::Contains;

namespace {
// Builds a Gaussian-mixture data set (no formula) or one from `formula`.
Dataset build(const std::string& csv, const std::string& formula = "") {
  const CsvTable t = parse_csv(csv, "data.csv");
  DataSpec spec;
  spec.formula = formula;
  return make_dataset(t, spec);
}
}  // namespace

TEST_CASE("numeric and string columns, quotes, CRLF and BOM", "[csv]") {
  const std::string text =
      "\xEF\xBB\xBF"
      "a,\"b c\",label\r\n1.5,\"2\",x\r\n-3e2,+4,\"y, \"\"quoted\"\"\"\r\n\r\n";
  const CsvTable t = parse_csv(text, "t.csv");
  REQUIRE(t.columns.size() == 3);
  CHECK(t.columns[0].name == "a");
  CHECK(t.columns[1].name == "b c");
  CHECK(t.rows() == 2);
  CHECK(t.columns[0].values == std::vector<double>{1.5, -300.0});
  CHECK(t.columns[1].values == std::vector<double>{2.0, 4.0});
  REQUIRE(t.columns[2].kind == ColumnKind::Text);
  CHECK(t.columns[2].levels == std::vector<std::string>{"x", "y, \"quoted\""});
  CHECK(t.columns[2].codes == std::vector<int>{0, 1});
  CHECK(t.lines == std::vector<std::int64_t>{2, 3});
}

TEST_CASE("factor levels are sorted as R does", "[csv]") {
  const CsvTable t = parse_csv("s\nversicolor\nsetosa\nvirginica\nsetosa\n", "t.csv");
  CHECK(t.columns[0].levels == std::vector<std::string>{"setosa", "versicolor", "virginica"});
  CHECK(t.columns[0].codes == std::vector<int>{1, 0, 2, 0});
}

TEST_CASE("other delimiters and quoted newlines keep line numbers", "[csv]") {
  CsvOptions o;
  o.delimiter = ';';
  const CsvTable t = parse_csv("a;b\n\"multi\nline\";1\nz;oops\n", "t.csv", o);
  CHECK(t.columns[0].levels[0] == "multi\nline");
  CHECK(t.lines == std::vector<std::int64_t>{2, 4});
  REQUIRE(t.columns[1].problem);
  CHECK(t.columns[1].problem->line == 4);
}

TEST_CASE("numbers round-trip exactly as strtod reads them", "[csv]") {
  const CsvTable t = parse_csv("x\n0.1\n3.6\n1e-310\n2.5199999809265137\n", "t.csv");
  CHECK(t.columns[0].values[0] == 0.1);
  CHECK(t.columns[0].values[1] == 3.6);
  CHECK(t.columns[0].values[2] == 1e-310);
  CHECK(t.columns[0].values[3] == 2.5199999809265137);
}

TEST_CASE("bad files give one-line errors naming file, line and column", "[csv][errors]") {
  SECTION("missing file") {
    CHECK_THROWS_WITH(read_csv("/nonexistent/dir/data.csv"),
                      Contains("/nonexistent/dir/data.csv") && Contains("cannot open"));
  }
  SECTION("empty file") {
    CHECK_THROWS_WITH(parse_csv("", "e.csv"), Contains("e.csv") && Contains("empty file"));
  }
  SECTION("header only") {
    CHECK_THROWS_WITH(parse_csv("a,b\n", "h.csv"), Contains("h.csv") && Contains("no data rows"));
  }
  SECTION("ragged row") {
    CHECK_THROWS_WITH(parse_csv("a,b\n1,2\n3\n", "r.csv"),
                      Contains("r.csv:line 3") && Contains("1 fields but the header has 2"));
  }
  SECTION("duplicate column names") {
    CHECK_THROWS_WITH(parse_csv("a,b,a\n1,2,3\n", "d.csv"), Contains("d.csv:line 1") &&
                                                                Contains("column 3 ('a')") &&
                                                                Contains("duplicate column name"));
  }
  SECTION("unterminated quote") {
    CHECK_THROWS_WITH(parse_csv("a\n\"abc\n", "q.csv"),
                      Contains("q.csv:line 2") && Contains("unterminated"));
  }
}

TEST_CASE("bad cells are errors only in columns the model uses", "[csv][errors]") {
  SECTION("non-numeric cell") {
    CHECK_THROWS_WITH(
        build("x,y\n1,2\n2,abc\n3,5\n"),
        Contains("data.csv:line 3, column 2 ('y')") && Contains("'abc' is not a number"));
    // Not used by the formula: no error.
    CHECK_NOTHROW(build("x,y,z\n1,2,1\n2,3,oops\n3,5,2\n4,1,1\n", "y ~ x"));
  }
  SECTION("NA or empty cell") {
    CHECK_THROWS_WITH(build("x,y\n1,2\n2,NA\n3,5\n"),
                      Contains("line 3, column 2 ('y')") && Contains("missing value"));
    CHECK_THROWS_WITH(build("x,y\n1,2\n,4\n3,5\n"),
                      Contains("line 3, column 1 ('x')") && Contains("missing value"));
  }
  SECTION("inf and nan") {
    CHECK_THROWS_WITH(build("x,y\n1,2\n2,inf\n3,5\n"),
                      Contains("line 3, column 2 ('y')") && Contains("non-finite"));
    CHECK_THROWS_WITH(build("x,y\n1,nan\n2,1\n3,5\n"),
                      Contains("line 2, column 2 ('y')") && Contains("non-finite"));
  }
  SECTION("unknown column in the formula") {
    CHECK_THROWS_WITH(build("x,y\n1,2\n2,3\n3,5\n", "y ~ w"),
                      Contains("column 'w'") && Contains("no such column"));
  }
  SECTION("response with zero variance") {
    CHECK_THROWS_WITH(build("x,y\n1,2\n2,2\n3,2\n"),
                      Contains("column 'y'") && Contains("zero variance"));
  }
  SECTION("string response for a numeric family") {
    CHECK_THROWS_WITH(build("x,y\n1,a\n2,b\n3,a\n", "y ~ x"),
                      Contains("'y'") && Contains("string column"));
  }
}

TEST_CASE("no formula: every numeric column is a response", "[dataset]") {
  const Dataset d = build("a,lab,b\n1,u,4\n2,v,6\n3,u,5\n");
  CHECK(d.y.cols() == 2);
  CHECK(d.y(2, 1) == 5.0);
  CHECK(d.x.cols() == 1);
}
