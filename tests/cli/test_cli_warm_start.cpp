// fit --init-model: EM from a saved model, with the same K or with one component more.

#include "cli/cli_support.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace moekit::testing;

namespace {
const std::string faithful = std::string(MOEKIT_DATASETS_DIR) + "/faithful.csv";
const std::string chemists = std::string(MOEKIT_DATASETS_DIR) + "/bioChemists.csv";
}  // namespace

TEST_CASE("--init-model from a converged model returns it after at most one iteration",
          "[cli][warm]") {
  TempFile model("", ".json");
  const Run first =
      run_cli("fit " + faithful + " -k 2 --restarts 3 -q --json --out " + model.path());
  REQUIRE(first.status == 0);
  const Run again = run_cli("fit " + faithful + " --init-model " + model.path() + " --json");
  REQUIRE(again.status == 0);
  const auto a = nlohmann::json::parse(first.out), b = nlohmann::json::parse(again.out);
  CHECK(b["iterations"].get<int>() <= 1);
  CHECK(b["loglik"].get<double>() == Approx(a["loglik"].get<double>()).epsilon(1e-9));
  CHECK(b["init"].get<std::string>() == "model " + model.path());
}

TEST_CASE("--init-model with -k one above splits the heaviest component", "[cli][warm]") {
  TempFile model("", ".json");
  REQUIRE(run_cli("fit " + chemists +
                  " --formula 'art ~ fem + mar + kid5 + phd + ment' --experts poisson -k 1 -q "
                  "--out " +
                  model.path())
              .status == 0);
  const Run grown = run_cli("fit " + chemists + " --init-model " + model.path() + " -k 2 --json");
  REQUIRE(grown.status == 0);
  const auto j = nlohmann::json::parse(grown.out);
  CHECK(j["spec"]["K"] == 2);
  CHECK(j["converged"] == true);
  // The K = 2 maximum of flexmix (tests/reference/values/poisson.json) is -1561.0708709.
  CHECK(j["loglik"].get<double>() == Approx(-1561.0708709).margin(1e-3));
}

TEST_CASE("--init-model refuses what it cannot do, naming the flag", "[cli][warm]") {
  TempFile model("", ".json");
  REQUIRE(run_cli("fit " + faithful + " -k 2 -q --out " + model.path()).status == 0);
  const Run k5 = run_cli("fit " + faithful + " --init-model " + model.path() + " -k 5");
  CHECK(k5.status == 1);
  CHECK(k5.err.find("-k = 5") != std::string::npos);
  const Run grad =
      run_cli("fit " + faithful + " --init-model " + model.path() + " --method gradient");
  CHECK(grad.status == 1);
  CHECK(grad.err.find("--init-model") != std::string::npos);
  const Run other = run_cli("fit " + std::string(MOEKIT_DATASETS_DIR) +
                            "/tonedata.csv --init-model " + model.path());
  CHECK(other.status == 1);
  CHECK(other.err.find("eruptions") != std::string::npos);
}
