#include "moekit/core/error.hpp"
#include "moekit/data/csv.hpp"
#include "moekit/data/dataset.hpp"
#include "moekit/data/formula.hpp"

#include <catch2/catch.hpp>

using namespace moekit;
using Catch::Matchers::Contains;

namespace {
std::vector<std::string> labels(const Formula& f) {
  std::vector<std::string> out;
  for (const auto& t : f.terms) out.push_back(t.label());
  return out;
}
}  // namespace

TEST_CASE("formula syntax", "[formula]") {
  const Formula f = parse_formula("y1 + y2 ~ x1 + log(x2) + I(x1^2) + a:b - 1");
  REQUIRE(f.responses.size() == 2);
  CHECK(f.responses[1]->text == "y2");
  CHECK_FALSE(f.intercept);
  CHECK(labels(f) == std::vector<std::string>{"x1", "log(x2)", "I(x1^2)", "a:b"});
  CHECK(parse_formula("y ~ 1").terms.empty());
  CHECK(parse_formula("y ~ 0 + x").intercept == false);
  CHECK(labels(parse_formula("y ~ a*b")) == std::vector<std::string>{"a", "b", "a:b"});
  CHECK(labels(parse_formula("y ~ x + x")) == std::vector<std::string>{"x"});
  CHECK(labels(parse_formula("y ~ a + b - a")) == std::vector<std::string>{"b"});
  CHECK(labels(parse_formula("y ~ `odd name` + I(-x / 2 + 1)")) ==
        std::vector<std::string>{"`odd name`", "I(-x/2+1)"});
  CHECK(parse_formula("~ z").responses.empty());
}

TEST_CASE("bad formulas point at the position", "[formula][errors]") {
  CHECK_THROWS_WITH(parse_formula("y ~ x + * z"),
                    Contains("position 9") && Contains("\n          ^"));
  CHECK_THROWS_WITH(parse_formula("y ~ x^2"), Contains("powers need I(...)"));
  CHECK_THROWS_WITH(parse_formula("y ~ foo(x)"),
                    Contains("unknown function 'foo'") && Contains("position 5"));
  CHECK_THROWS_WITH(parse_formula("y x"), Contains("expected '~'"));
  CHECK_THROWS_WITH(parse_formula("y ~ (x"), Contains("expected ')'"));
  CHECK_THROWS_WITH(parse_formula("y ~ 2"), Contains("must be 0 or 1"));
  CHECK_THROWS_WITH(parse_formula("y ~ "), Contains("expected terms"));
}

TEST_CASE("design matrices follow R's model.matrix", "[formula][design]") {
  const CsvTable t = parse_csv("y,x,g,h\n1,1,b,u\n2,2,a,v\n3,4,c,u\n5,3,a,u\n", "t.csv");
  SECTION("intercept, transforms, factor with treatment contrasts") {
    DataSpec s;
    s.formula = "y ~ x + I(x^2) + log(x) + g";
    const Dataset d = make_dataset(t, s);
    CHECK(s.x_names ==
          std::vector<std::string>{"(Intercept)", "x", "I(x^2)", "log(x)", "gb", "gc"});
    Matrix expect(4, 6);
    expect << 1, 1, 1, 0, 1, 0,         //
        1, 2, 4, std::log(2.0), 0, 0,   //
        1, 4, 16, std::log(4.0), 0, 1,  //
        1, 3, 9, std::log(3.0), 0, 0;
    CHECK(d.x.isApprox(expect));
  }
  SECTION("no intercept: full indicator coding of the first factor") {
    DataSpec s;
    s.formula = "y ~ g - 1";
    make_dataset(t, s);
    CHECK(s.x_names == std::vector<std::string>{"ga", "gb", "gc"});
  }
  SECTION("interactions: numeric by factor, factor by factor") {
    DataSpec s;
    s.formula = "y ~ x:g";
    const Dataset d = make_dataset(t, s);
    // R: model.matrix(~ x:g) has x:ga, x:gb, x:gc (g not in the model alone).
    CHECK(s.x_names == std::vector<std::string>{"(Intercept)", "x:ga", "x:gb", "x:gc"});
    CHECK(d.x(2, 3) == 4.0);
    DataSpec s2;
    s2.formula = "y ~ g*h";
    make_dataset(t, s2);
    CHECK(s2.x_names ==
          std::vector<std::string>{"(Intercept)", "gb", "gc", "hv", "gb:hv", "gc:hv"});
  }
  SECTION("dot means every other column; gate formula is separate") {
    DataSpec s;
    s.formula = "y ~ .";
    s.gate_formula = "~ x";
    const Dataset d = make_dataset(t, s);
    CHECK(s.x_names == std::vector<std::string>{"(Intercept)", "x", "gb", "gc", "hv"});
    CHECK(s.z_names == std::vector<std::string>{"(Intercept)", "x"});
    CHECK(d.z.cols() == 2);
  }
  SECTION("new data reuse the fitted levels; unseen levels are errors") {
    DataSpec s;
    s.formula = "y ~ g";
    make_dataset(t, s);
    const CsvTable fresh = parse_csv("y,x,g,h\n1,1,c,u\n", "new.csv");
    const Dataset d = apply_spec(fresh, s, true);
    CHECK(d.x.row(0) == RowVector((RowVector(3) << 1, 0, 1).finished()));
    const CsvTable unseen = parse_csv("y,x,g,h\n1,1,zz,u\n", "new.csv");
    CHECK_THROWS_WITH(apply_spec(unseen, s, true),
                      Contains("new.csv:line 2") && Contains("'zz' was not seen"));
  }
  SECTION("log of a non-positive value names the line") {
    const CsvTable bad = parse_csv("y,x\n1,1\n2,0\n3,2\n", "b.csv");
    DataSpec s;
    s.formula = "y ~ log(x)";
    CHECK_THROWS_WITH(make_dataset(bad, s),
                      Contains("b.csv:line 3") && Contains("log(x) is not finite"));
  }
}

TEST_CASE("grouped data: 'y ~ x | g' names the grouping column", "[formula][groups]") {
  const Formula f = parse_formula("y ~ x + I(x^2) | id");
  CHECK(f.group == "id");
  CHECK(labels(f) == std::vector<std::string>{"x", "I(x^2)"});
  CHECK(parse_formula("y ~ x").group.empty());
  CHECK_THROWS_WITH(parse_formula("y ~ x |"), Contains("grouping column"));
  CHECK_THROWS_WITH(parse_formula("y ~ x | log(g)"), Contains("one column"));

  // Groups are coded by first appearance, numbers or strings; '.' leaves the group out.
  const CsvTable t = parse_csv("y,x,g\n1,0.5,b\n2,1.5,a\n3,0.1,b\n4,2.0,c\n", "mem.csv");
  DataSpec spec;
  spec.formula = "y ~ . | g";
  const Dataset d = make_dataset(t, spec);
  CHECK(d.grouped());
  CHECK(d.group == std::vector<Index>{0, 1, 0, 2});
  CHECK(d.group_first == std::vector<Index>{0, 1, 3});
  CHECK(spec.x_names == std::vector<std::string>{"(Intercept)", "x"});
  CHECK(group_rows(d, d.x).col(1).transpose() == (RowVector(3) << 0.5, 1.5, 2.0).finished());
  DataSpec missing;
  missing.formula = "y ~ x | h";
  CHECK_THROWS_WITH(make_dataset(t, missing), Contains("'h'") && Contains("grouping"));
}
