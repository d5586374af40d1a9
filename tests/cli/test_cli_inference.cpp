// `fit --method gradient`, `fit --se`, `fit --bootstrap` and `select --bootstrap-lrt` from the
// command line: the JSON record, the tables of fit, summary and select, and the flags' errors.

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

TEST_CASE("fit --bootstrap: bootstrap columns in JSON and tables, whatever the threads",
          "[cli][bootstrap]") {
  TempFile model("", ".json");
  const std::string fit = "fit " + kNOdata + kModel + " --se --bootstrap 24 --seed 3";
  const Run f = run_cli(fit + " --threads 1 --json --out " + model.path());
  REQUIRE(f.status == 0);
  CHECK_THAT(f.err, Contains("bootstrap: 24 replicates"));
  const auto j = nlohmann::json::parse(f.out);
  CHECK(j["bootstrap_replicates"] == 24);
  REQUIRE(j["inference"].size() == 8);
  for (const auto& row : j["inference"]) {
    INFO(row["parameter"]);
    CHECK(row["se"].is_number());
    REQUIRE(row["bootstrap_se"].is_number());
    CHECK(row["bootstrap_se"].get<double>() > 0);
    CHECK(row["lower"].get<double>() < row["estimate"].get<double>());
    CHECK(row["upper"].get<double>() > row["estimate"].get<double>());
  }
  const Run two = run_cli(fit + " --threads 2 --json --quiet");
  REQUIRE(two.status == 0);
  CHECK(two.err.empty());
  CHECK(nlohmann::json::parse(two.out)["inference"] == j["inference"]);

  const Run s = run_cli("summary " + model.path());
  REQUIRE(s.status == 0);
  CHECK_THAT(s.out, Contains("nonparametric bootstrap, 24 replicates") && Contains("Boot. SE") &&
                        Contains("2.5 %") && Contains("97.5 %") && Contains("Std. Error"));
  CHECK(nlohmann::json::parse(run_cli("summary " + model.path() + " --json").out)["inference"] ==
        j["inference"]);

  // Without --se the table holds the bootstrap alone.
  const Run b = run_cli("fit " + kNOdata + kModel + " --bootstrap 12 --quiet");
  REQUIRE(b.status == 0);
  CHECK_THAT(b.out, Contains("Boot. SE"));
  CHECK(b.out.find("Std. Error") == std::string::npos);
}

TEST_CASE("select --bootstrap-lrt: K against K + 1 in the table and in JSON", "[cli][lrt]") {
  const std::string faithful = std::string(MOEKIT_DATASETS_DIR) + "/faithful.csv";
  const Run j = run_cli("select " + faithful + " -k 1:2 --bootstrap-lrt 9 --seed 2 --json");
  REQUIRE(j.status == 0);
  CHECK_THAT(j.err, Contains("bootstrap LRT K = 1 vs 2: 9 replicates"));
  const auto out = nlohmann::json::parse(j.out);
  REQUIRE(out["bootstrap_lrt"].size() == 1);
  const auto& t = out["bootstrap_lrt"][0];
  CHECK(t["K"] == 1);
  CHECK(t["K_alternative"] == 2);
  CHECK(t["statistic"].get<double>() > 100.0);
  CHECK(t["p_value"].get<double>() == Approx(0.1));  // 1 / (9 + 1): no replicate comes near
  const Run text = run_cli("select " + faithful + " -k 1:2 --bootstrap-lrt 9 --seed 2 --quiet");
  REQUIRE(text.status == 0);
  CHECK_THAT(text.out, Contains("bootstrap likelihood-ratio tests") && Contains("1 vs 2"));
}

TEST_CASE("bad --bootstrap and --bootstrap-lrt exit 1 naming the flag", "[cli][errors]") {
  const Run b = run_cli("fit " + kNOdata + kModel + " --bootstrap 1");
  CHECK(b.status == 1);
  CHECK_THAT(b.err, Contains("--bootstrap"));
  const Run k = run_cli("select " + kNOdata + kModel + " --bootstrap-lrt 9");
  CHECK(k.status == 1);
  CHECK_THAT(k.err, Contains("--bootstrap-lrt") && Contains("consecutive"));
  const Run n = run_cli("select " + kNOdata + " -k 1:2 --bootstrap-lrt -2");
  CHECK(n.status == 1);
  CHECK_THAT(n.err, Contains("--bootstrap-lrt"));
  const Run g = run_cli("select " + kNOdata +
                        " --formula 'Equivalence ~ NO' --experts linear --gate gaussian -k 1:2 "
                        "--bootstrap-lrt 9");
  CHECK(g.status == 1);
  CHECK_THAT(g.err, Contains("--bootstrap-lrt") && Contains("Gaussian gate"));
}
