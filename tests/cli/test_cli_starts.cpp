// Issue 17 (search): with the default options and --restarts 10, seeds 1, 2 and 3 reach
// the best maxima known on the bundled data (polished optima of the R peers, stored in
// tests/reference/values/), and a degenerate maximum is never reported silently.

#include "cli_support.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>

using moekit::testing::Run;
using moekit::testing::run_cli;

namespace {

const std::string kData = std::string(MOEKIT_DATASETS_DIR) + "/";

nlohmann::json fit_json(const std::string& args, int seed) {
  const Run r =
      run_cli("fit " + args + " --restarts 10 --seed " + std::to_string(seed) + " --json -q");
  INFO(r.err);
  REQUIRE(r.status == 0);
  return nlohmann::json::parse(r.out);
}

}  // namespace

TEST_CASE("starts: tonedata, two linear experts reach mixtools' best optimum", "[cli][starts]") {
  // tonedata.json, mixtools_regmixEM_seeds1to50 optimum_1 (regmixEM seed 27 of 50),
  // polished: 145.416848157236 (37% of rows on tuned = stretchratio, sigma 0.0045: above the
  // degeneracy bound 0.01 x sd(tuned) = 0.0028).
  for (int seed : {1, 2, 3}) {
    const auto j = fit_json(kData +
                                "tonedata.csv --formula 'tuned ~ stretchratio' --experts "
                                "linear -k 2",
                            seed);
    INFO("seed " << seed);
    CHECK(j["loglik"].get<double>() > 145.416848157236 - 1e-3);
    CHECK(j["degenerate_components"].empty());
  }
}

TEST_CASE("starts: tonedata's two columns, full Gaussian mixture reaches mclust's optimum",
          "[cli][starts]") {
  // tonedata_gmm.json: Mclust(G = 2, modelNames = "VVV") 49.1544, polished 49.154933005885
  // (a third of the rows in a thin component at tuned = 2, smallest covariance eigenvalue
  // 4.4e-5). The default variance floor (1e-6 x each response's variance) does not bind
  // there, so the CLI's defaults reach the plain optimum (an absolute ridge of 1e-6 on the
  // diagonal moved it to 49.1383).
  for (int seed : {1, 2, 3}) {
    const auto j = fit_json(kData + "tonedata.csv --experts gaussian -k 2", seed);
    INFO("seed " << seed);
    CHECK(j["loglik"].get<double>() > 49.154933005885 - 1e-3);
    CHECK(j["degenerate_components"].empty());
  }
}

TEST_CASE("starts: mcycle, four linear experts: mixtools' maximum, no degenerate component",
          "[cli][starts]") {
  // mcycle.json: mixtools' regmixEM reaches -642.82 or better (non-degenerate) in 5 of 200
  // seeds; its best, polished, is -638.432389187375. The starts alone reach it for seed 1
  // only (-642.54; seeds 2 and 3 stop at -645.11 and -642.86); with the default
  // split-and-merge moves every seed does (-640.33, -640.33, -642.50: docs/starts.md).
  for (int seed : {1, 2, 3}) {
    const auto j =
        fit_json(kData + "mcycle.csv --formula 'accel ~ times' --experts linear -k 4", seed);
    INFO("seed " << seed);
    CHECK(j["loglik"].get<double>() > -642.82);
    CHECK(j["loglik"].get<double>() < -638.432389187375 + 1e-6);
    CHECK(j["degenerate_components"].empty());
    CHECK(j["converged"].get<bool>());
  }
}

TEST_CASE(
    "starts: mcycle, four linear experts with a softmax gate reach the best known "
    "maximum",
    "[cli][starts]") {
  // mcycle.json, best_known_K4_softmax: -550.244876997696 (polished), above flexmix's best of
  // 50 seeds (FLXPmultinom(~ times); seed 17, polished, -550.407609316051).
  for (int seed : {1, 2, 3}) {
    const auto j = fit_json(
        kData + "mcycle.csv --formula 'accel ~ times' --experts linear --gate softmax -k 4", seed);
    INFO("seed " << seed);
    CHECK(j["loglik"].get<double>() > -550.244876997696 - 1e-3);
    CHECK(j["degenerate_components"].empty());
  }
}

TEST_CASE(
    "starts: CO2, three linear experts: a proper maximum or a named degenerate "
    "component",
    "[cli][starts]") {
  for (int seed : {1, 2, 3}) {
    const auto j =
        fit_json(kData + "CO2data.csv --formula 'CO2 ~ GNP' --experts linear -k 3", seed);
    INFO("seed " << seed << ": " << j.dump());
    for (const auto& k : j["degenerate_components"]) {
      const std::string name = "component " + std::to_string(k.get<int>()) + " is degenerate";
      bool found = false;
      for (const auto& w : j["warnings"])
        found = found || w.get<std::string>().find(name) != std::string::npos;
      CHECK(found);
    }
  }
}
