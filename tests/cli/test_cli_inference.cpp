// `fit --method gradient` and `fit --se` from the command line: the JSON record, the Wald
// tables of fit and summary, and the flags' errors.

#include "cli_support.hpp"
#include "support/temp_file.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <string>

using Catch::Matchers::Contains;
using moekit::testing::Run;
using moekit::testing::run_cli;
using moekit::testing::TempFile;

namespace {

const std::string kNOdata = std::string(MOEKIT_DATASETS_DIR) + "/NOdata.csv";
const std::string kModel = " --formula 'Equivalence ~ NO' --experts linear -k 2 --restarts 10";

}  // namespace

TEST_CASE("fit --method gradient reports the method, iterations and score norm",
          "[cli][gradient]") {
  const Run g = run_cli("fit " + kNOdata + kModel + " --gate softmax --method gradient --json");
  REQUIRE(g.status == 0);
  const auto j = nlohmann::json::parse(g.out);
  CHECK(j["method"] == "gradient");
  CHECK(j["iterations"].get<int>() > 0);
  CHECK(j["warmup_iterations"] == 5);
  CHECK(j["gradient_norm"].get<double>() >= 0.0);
  CHECK(j["converged"] == true);
  const Run em = run_cli("fit " + kNOdata + kModel + " --gate softmax --json");
  REQUIRE(em.status == 0);
  CHECK(nlohmann::json::parse(em.out)["method"] == "em");
}

TEST_CASE("fit --se: inference in JSON, R-style tables in fit and summary", "[cli][se]") {
  TempFile model("", ".json");
  const Run f = run_cli("fit " + kNOdata + kModel + " --se --json --out " + model.path());
  REQUIRE(f.status == 0);
  const auto j = nlohmann::json::parse(f.out);
  REQUIRE(j.contains("inference"));
  std::vector<std::string> names;
  for (const auto& row : j["inference"]) {
    names.push_back(row["parameter"]);
    REQUIRE(row["se"].is_number());
    CHECK(row["se"].get<double>() > 0);
    CHECK(std::isfinite(row["z"].get<double>()));
    CHECK(row["p"].get<double>() >= 0);
  }
  const std::vector<std::string> expected{
      "gate.expert1.weight", "gate.expert2.weight", "expert1.(Intercept)", "expert1.NO",
      "expert1.variance",    "expert2.(Intercept)", "expert2.NO",          "expert2.variance"};
  CHECK(names == expected);
  const Run s = run_cli("summary " + model.path());
  REQUIRE(s.status == 0);
  CHECK_THAT(s.out, Contains("Estimate") && Contains("Std. Error") && Contains("z value") &&
                        Contains("Pr(>|z|)") && Contains("expert1:"));
  CHECK(s.out.find("nan") == std::string::npos);
  const Run sj = run_cli("summary " + model.path() + " --json");
  REQUIRE(sj.status == 0);
  CHECK(nlohmann::json::parse(sj.out)["inference"] == j["inference"]);
}

TEST_CASE("bad --method and --warmup-iter exit 1 naming the flag", "[cli][errors]") {
  const Run m = run_cli("fit " + kNOdata + " --method newton");
  CHECK(m.status == 1);
  CHECK_THAT(m.err, Contains("--method"));
  const Run w = run_cli("fit " + kNOdata + " --method gradient --warmup-iter 0");
  CHECK(w.status == 1);
  CHECK_THAT(w.err, Contains("--warmup-iter"));
}
