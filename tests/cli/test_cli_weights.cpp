// fit --weights: the weighted fit of bioChemists' unique rows equals flexmix's weights= fit
// (tests/reference/values/weights.json); what weights do not support is refused up front.

#include "cli/cli_support.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>

using namespace moekit::testing;

namespace {
const std::string counts = std::string(MOEKIT_DATASETS_DIR) + "/bioChemists_counts.csv";
const std::string formula = " --formula 'art ~ fem + mar + kid5' --experts poisson -k 2 ";
}  // namespace

TEST_CASE("fit --weights reaches flexmix's weighted optimum; BIC's n is the weight sum",
          "[cli][weights]") {
  const Run r = run_cli("fit " + counts + formula + "--weights count --restarts 10 -q --json");
  REQUIRE(r.status == 0);
  const auto j = nlohmann::json::parse(r.out);
  // flexmix 2.3.18: logLik -1609.2442729499, BIC 3279.85886249 (nobs = 915).
  CHECK(j["loglik"].get<double>() == Approx(-1609.2442729499).epsilon(0).margin(2e-4));
  const double bic = j["bic"].get<double>(), ll = j["loglik"].get<double>();
  CHECK(bic == Approx(-2.0 * ll + 9.0 * std::log(915.0)).epsilon(1e-12));
  // The fit record and the summary give that n beside the rows.
  CHECK(j["n_obs"].get<long>() == 69);
  CHECK(j["weight_sum"].get<double>() == 915.0);
  const Run text = run_cli("fit " + counts + formula + "--weights count -q");
  REQUIRE(text.status == 0);
  CHECK_THAT(text.out, Catch::Contains("n = 915 (the weights' sum over 69 rows)"));
  const Run plain = run_cli("fit " + counts + formula + "-q --json");
  REQUIRE(plain.status == 0);
  CHECK_FALSE(nlohmann::json::parse(plain.out).contains("weight_sum"));
}

TEST_CASE("fit --weights refuses the bootstrap and a bad column, naming them", "[cli][weights]") {
  const Run boot = run_cli("fit " + counts + formula + "--weights count --bootstrap 20 -q");
  CHECK(boot.status != 0);
  CHECK_THAT(boot.err, Catch::Contains("--bootstrap") && Catch::Contains("weights"));
  const Run missing = run_cli("fit " + counts + formula + "--weights n -q");
  CHECK(missing.status != 0);
  CHECK_THAT(missing.err, Catch::Contains("no such column"));
  const Run se = run_cli("fit " + counts + formula + "--weights count --se --json");
  REQUIRE(se.status == 0);
  CHECK_THAT(se.err, Catch::Contains("frequencies"));
}
