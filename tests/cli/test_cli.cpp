// The command line as a user runs it: exit codes, messages, files written atomically.

#include "support/temp_file.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

using Catch::Matchers::Contains;
using moekit::testing::TempFile;

namespace {

struct Run {
  int status = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `moekit ARGS` through the shell, capturing stdout and stderr.
Run run_cli(const std::string& args, const std::string& stdin_text = "") {
  TempFile out("", ".out"), err("", ".err"), in(stdin_text, ".in");
  const std::string cmd = std::string(MOEKIT_CLI) + " " + args + " <" + in.path() + " >" +
                          out.path() + " 2>" + err.path();
  const int raw = std::system(cmd.c_str());
  Run r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = slurp(out.path());
  r.err = slurp(err.path());
  return r;
}

const std::string kFaithful = std::string(MOEKIT_DATASETS_DIR) + "/faithful.csv";

}  // namespace

TEST_CASE("fit prints the JSON keys the contract names", "[cli]") {
  const Run r = run_cli("fit " + kFaithful + " -k 2 --restarts 3 --seed 1 --json");
  REQUIRE(r.status == 0);
  const auto j = nlohmann::json::parse(r.out);
  for (const char* key : {"loglik", "n_obs", "n_params", "aic", "bic", "icl", "iterations",
                          "converged", "seconds", "parameters"})
    CHECK(j.contains(key));
  CHECK(j["n_obs"] == 272);
  CHECK(j["n_params"] == 11);
  const double ll = j["loglik"], p = j["n_params"];
  CHECK(j["bic"].get<double>() == Approx(-2 * ll + p * std::log(272.0)).epsilon(1e-12));
  CHECK(j["aic"].get<double>() == Approx(-2 * ll + 2 * p).epsilon(1e-12));
  CHECK(r.err.empty());  // not a terminal: no progress line
}

TEST_CASE("the same seed gives the same fit; text output by default", "[cli]") {
  const Run a = run_cli("fit " + kFaithful + " -k 3 --seed 5 --json");
  const Run b = run_cli("fit " + kFaithful + " -k 3 --seed 5 --json --threads 1");
  REQUIRE(a.status == 0);
  CHECK(nlohmann::json::parse(a.out)["parameters"] == nlohmann::json::parse(b.out)["parameters"]);
  const Run t = run_cli("fit " + kFaithful + " -k 2");
  CHECK(t.status == 0);
  CHECK_THAT(t.out, Contains("log-likelihood") && Contains("BIC"));
}

TEST_CASE("fit, save, summary and predict work together", "[cli]") {
  TempFile model("", ".json");
  const Run f = run_cli("fit " + kFaithful + " -k 2 --seed 2 --out " + model.path());
  REQUIRE(f.status == 0);
  const Run s = run_cli("summary " + model.path() + " --json");
  REQUIRE(s.status == 0);
  CHECK(nlohmann::json::parse(s.out)["n_obs"] == 272);
  const Run post = run_cli("predict " + model.path() + " " + kFaithful + " --what posterior");
  REQUIRE(post.status == 0);
  CHECK(post.out.rfind("posterior_1,posterior_2\n", 0) == 0);
  CHECK(std::count(post.out.begin(), post.out.end(), '\n') == 273);
  const Run cls = run_cli("predict " + model.path() + " " + kFaithful + " --what class");
  CHECK(cls.status == 0);
  const Run dens = run_cli("predict " + model.path() + " - --what density", slurp(kFaithful));
  CHECK(dens.status == 0);
  CHECK(dens.out.rfind("density\n", 0) == 0);
  TempFile out("", ".csv");
  const Run to_file = run_cli("predict " + model.path() + " " + kFaithful +
                              " --what log-density --out " + out.path());
  CHECK(to_file.status == 0);
  CHECK(slurp(out.path()).rfind("log_density\n", 0) == 0);
}

TEST_CASE("bad input exits 1 with a message naming the place", "[cli][errors]") {
  SECTION("missing file") {
    const Run r = run_cli("fit /nonexistent.csv");
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Contains("/nonexistent.csv") && Contains("cannot open"));
  }
  SECTION("ragged row") {
    TempFile f("a,b\n1,2\n3\n");
    const Run r = run_cli("fit " + f.path());
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Contains(f.path() + ":line 3"));
  }
  SECTION("bad cell in a used column") {
    TempFile f("a,b\n1,2\n3,x\n4,4\n5,1\n");
    const Run r = run_cli("fit " + f.path());
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Contains("line 3, column 2 ('b')"));
  }
  SECTION("bad flag values name the flag") {
    CHECK_THAT(run_cli("fit " + kFaithful + " --tol -1").err, Contains("--tol"));
    CHECK(run_cli("fit " + kFaithful + " --covariance round").status == 1);
    CHECK(run_cli("fit " + kFaithful + " -k 0").status == 1);
    CHECK(run_cli("fit " + kFaithful + " --bogus").status == 1);
    CHECK_THAT(run_cli("fit " + kFaithful + " --experts nope").err, Contains("--experts"));
  }
  SECTION("bad formula points at the position") {
    const Run r = run_cli("fit " + kFaithful + " --formula 'waiting ~ + * eruptions'");
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Contains("bad formula") && Contains("^"));
  }
  SECTION("an input is never overwritten") {
    TempFile f(slurp(kFaithful));
    const Run r = run_cli("fit " + f.path() + " --out " + f.path());
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Contains("refusing to overwrite"));
    CHECK(slurp(f.path()) == slurp(kFaithful));
  }
  SECTION("cuda without kernels is a clear input error") {
    const Run r = run_cli("fit " + kFaithful + " --device cuda");
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Contains("--device"));
  }
  SECTION("a corrupt model file") {
    TempFile m("{\"format\": \"moekit-model\", \"version\": 1}", ".json");
    const Run r = run_cli("predict " + m.path() + " " + kFaithful);
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Contains(m.path()));
  }
}

TEST_CASE("numerical failure exits 2 without NaN output", "[cli][errors]") {
  // Every row duplicated thrice except for a wide spread: K = 5 full components on 6 distinct
  // points cannot avoid singular covariances.
  std::string csv = "a,b\n";
  for (int rep = 0; rep < 3; ++rep)
    for (int p = 0; p < 6; ++p)
      csv += std::to_string(p * 10) + "," + std::to_string((p * 37) % 11) + "\n";
  TempFile f(csv);
  const Run r = run_cli("fit " + f.path() + " -k 5 --reg-covar 0 --json");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("numerical failure"));
  CHECK(r.out.find("nan") == std::string::npos);
}

TEST_CASE("info reports the build and the devices", "[cli]") {
  const Run r = run_cli("info");
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Contains("CUDA backend compiled") && Contains("devices:"));
}
