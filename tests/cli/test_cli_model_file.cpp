// Issue 24, model files: a file edited by hand, truncated or made up is refused on load with
// exit 1, naming the file and the field, before anything is sized by it; predictions that
// overflow on a loaded model are exit 2 naming the row.

#include "cli_support.hpp"
#include "support/temp_file.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <utility>
#include <vector>

using Catch::Matchers::Contains;
using moekit::testing::Run;
using moekit::testing::run_cli;
using moekit::testing::slurp;
using moekit::testing::TempFile;
using nlohmann::json;

namespace {

const std::string kFaithful = std::string(MOEKIT_DATASETS_DIR) + "/faithful.csv";
const std::string kTone = std::string(MOEKIT_DATASETS_DIR) + "/tonedata.csv";
const std::string kIris = std::string(MOEKIT_DATASETS_DIR) + "/iris.csv";

// The model file that `moekit fit ARGS` writes.
json fitted(const std::string& args) {
  TempFile model("", ".json");
  const Run r = run_cli("fit " + args + " -q --out " + model.path());
  REQUIRE(r.status == 0);
  return json::parse(slurp(model.path()));
}

// `moekit fit faithful.csv -k 2`'s model file, fitted once for the test cases that edit it
// (each edits a copy).
const json& faithful_k2() {
  static const json g = fitted(kFaithful + " -k 2");
  return g;
}

struct Edit {
  std::string what;                   // for INFO
  std::function<void(json&)> change;  // applied to a copy of the fitted model
  std::vector<std::string> message;   // the error names these, beside the file
};

// Every edit is refused with exit 1 by predict (and summary), naming the file; never the
// JSON library's own "[json.exception...]" text.
void check_refused(const json& good,
                   const std::string& data,
                   const std::vector<Edit>& edits,
                   const std::string& predict_args = "") {
  for (const Edit& e : edits) {
    INFO(e.what);
    json j = good;
    e.change(j);
    TempFile bad(j.dump(), ".json");
    const Run p = run_cli("predict " + bad.path() + " " + data + " " + predict_args);
    CHECK(p.status == 1);
    CHECK_THAT(p.err, Contains(bad.path()));
    for (const auto& m : e.message) CHECK_THAT(p.err, Contains(m));
    CHECK_THAT(p.err, !Contains("json.exception"));
    CHECK(p.out.empty());
    const Run s = run_cli("summary " + bad.path());
    CHECK(s.status == 1);
    CHECK_THAT(s.err, Contains(bad.path()));
  }
}

}  // namespace

TEST_CASE("names and dimensions that disagree are refused on load", "[cli][model-file][errors]") {
  // Heap overflows in predict, simulate and the linear experts before.
  const json& g = faithful_k2();
  check_refused(g, kFaithful,
                {{"response_names shorter",
                  [](json& j) { j["spec"]["data"]["response_names"] = {"eruptions"}; },
                  {"response_names has 1 names but response_dim is 2"}},
                 {"response_names longer",
                  [](json& j) {
                    j["spec"]["data"]["response_names"] = {"eruptions", "waiting", "x"};
                  },
                  {"response_names"}},
                 {"a huge response_dim",
                  [](json& j) { j["spec"]["response_dim"] = 1e6; },
                  {"response_dim is 1000000"}}});

  // No names and no formula is a model built in code: it loads (summary), but reads no CSV.
  json none = g;
  none["spec"]["data"]["response_names"] = json::array();
  TempFile unnamed(none.dump(), ".json");
  CHECK(run_cli("summary " + unnamed.path()).status == 0);
  const Run p = run_cli("predict " + unnamed.path() + " " + kFaithful);
  CHECK(p.status == 1);
  CHECK_THAT(p.err, Contains(unnamed.path()) && Contains("cannot read a CSV"));

  const json f = fitted(kIris + " --formula 'Sepal.Length ~ Species' --experts linear -k 2");
  check_refused(f, kIris,
                {{"a level added to a factor",
                  [](json& j) { j["spec"]["data"]["factor_levels"]["Species"].push_back("zz"); },
                  {"x_names", "Specieszz"}},
                 {"a covariate name dropped",
                  [](json& j) { j["spec"]["data"]["x_names"].erase(1); },
                  {"x_names"}},
                 {"the formula changed under the names",
                  [](json& j) { j["spec"]["data"]["formula"] = "Sepal.Length ~ Sepal.Width"; },
                  {"x_names"}}},
                "--what mean");
  // The same file unedited predicts.
  TempFile ok(f.dump(), ".json");
  CHECK(run_cli("predict " + ok.path() + " " + kIris + " --what mean").status == 0);
}

TEST_CASE("counts in a model file are whole numbers in range, checked before allocation",
          "[cli][model-file][errors]") {
  const json& g = faithful_k2();
  check_refused(g, kFaithful,
                {{"K = 2.7 (read as 2 before)",
                  [](json& j) { j["spec"]["K"] = 2.7; },
                  {"'K' is 2.7, which is not a whole number"}},
                 {"K = 1e9 (memory without bound before)",
                  [](json& j) { j["spec"]["K"] = 1e9; },
                  {"'K'", "between 1 and 1048576"}},
                 {"K = 2^20 with two experts in the file",
                  [](json& j) {
                    j["spec"]["K"] = 1 << 20;
                    j["spec"].erase("tree");
                  },
                  {"expected a list of K = 1048576 experts, found 2"}},
                 {"K negative", [](json& j) { j["spec"]["K"] = -3; }, {"'K'"}},
                 {"version 1.5", [](json& j) { j["version"] = 1.5; }, {"'version'"}},
                 {"tree of 2.5", [](json& j) { j["spec"]["tree"] = {2.5}; }, {"tree[0]"}}});

  // The fit record: "best_restart": 1e300 overflowed an int in summary (UBSan).
  for (const auto& [field, value] : std::vector<std::pair<std::string, json>>{
           {"best_restart", 1e300}, {"iterations", -1}, {"restarts", 2.5}, {"n_obs", "many"}}) {
    INFO(field);
    json j = g;
    j["fit"][field] = value;
    TempFile bad(j.dump(), ".json");
    const Run s = run_cli("summary " + bad.path());
    CHECK(s.status == 1);
    CHECK_THAT(s.err, Contains(bad.path()) && Contains(field));
  }
}

TEST_CASE("covariances in a model file are symmetric, of their structure, positive definite",
          "[cli][model-file][errors]") {
  const json& g = faithful_k2();
  auto& cov = g["parameters"]["experts"]["components"][0]["covariance"];
  REQUIRE(cov.size() == 2);
  check_refused(
      g, kFaithful,
      {{"asymmetric (the lower triangle was read alone before)",
        [](json& j) { j["parameters"]["experts"]["components"][0]["covariance"][0][1] = 5.0; },
        {"expert 1", "not symmetric"}},
       {"not positive definite",
        [](json& j) {
          j["parameters"]["experts"]["components"][1]["covariance"] = {{1.0, 2.0}, {2.0, 1.0}};
        },
        {"expert 2", "not positive definite"}},
       {"a negative variance",
        [](json& j) { j["parameters"]["experts"]["components"][0]["covariance"][0][0] = -1.0; },
        {"not positive definite"}}});

  const json d = fitted(kFaithful + " -k 2 --covariance diag");
  check_refused(d, kFaithful,
                {{"diag with an entry off the diagonal",
                  [](json& j) {
                    auto& c = j["parameters"]["experts"]["components"][0]["covariance"];
                    c[0][1] = c[1][0] = 0.1;
                  },
                  {"structure is diag"}}});
}

TEST_CASE("huge parameters are refused on load; overflowing predictions are exit 2 naming the row",
          "[cli][model-file][errors]") {
  const json& g = faithful_k2();
  check_refused(g, kFaithful,
                {{"a mean of 1e308 (inf and NaN predictions with exit 0 before)",
                  [](json& j) { j["parameters"]["experts"]["components"][0]["mean"][0] = 1e308; },
                  {"components[0].mean[0]", "at most 1e+150"}},
                 {"a gate weight of -1e300",
                  [](json& j) { j["parameters"]["gates"][0]["parameters"]["weights"][1] = -1e300; },
                  {"gates[0].weights[1]"}}});

  // A number no double holds: exit 2 with the JSON library's message before.
  std::string text = g.dump();
  const std::string reg = "\"reg_covar\":";
  const auto at = text.find(reg);
  REQUIRE(at != std::string::npos);
  text.replace(at, text.find_first_of(",}", at) - at, reg + "1e400");
  TempFile overflow(text, ".json");
  const Run o = run_cli("predict " + overflow.path() + " " + kFaithful);
  CHECK(o.status == 1);
  CHECK_THAT(o.err, Contains(overflow.path()) && Contains("1e400") && !Contains("json.exception"));

  // A loaded model within bounds, a covariate beyond them: the row is named, exit 2.
  json lin = fitted(kTone + " --formula 'tuned ~ stretchratio' --experts linear -k 2");
  // Every expert's slope: with one alone, a hard prediction may come from the other expert,
  // whose value is finite (which expert is which depends on the start).
  for (auto& c : lin["parameters"]["experts"]["components"]) c["coefficients"][1] = 1e100;
  TempFile model(lin.dump(), ".json");
  TempFile rows("tuned,stretchratio\n1.9,1.1\n2.0,1e300\n");
  for (const char* what : {"mean", "hard", "expert-means", "quantile", "posterior"}) {
    INFO(what);
    const Run p = run_cli("predict " + model.path() + " " + rows.path() + " --what " + what);
    CHECK(p.status == 2);
    CHECK_THAT(p.err, Contains("line 3"));
    CHECK_THAT(p.out, !Contains("inf") && !Contains("nan"));
  }
  const Run s = run_cli("simulate " + model.path() + " " + rows.path());
  CHECK(s.status == 2);  // an NA draw with exit 0 before
  CHECK_THAT(s.err, Contains("row 2 (line 3"));
}

TEST_CASE("malformed model files are exit 1 naming the file, in moekit's words",
          "[cli][model-file][errors]") {
  const json& g = faithful_k2();
  check_refused(
      g, kFaithful,
      {{"spec is a list", [](json& j) { j["spec"] = json::array(); }, {"spec"}},
       {"components is a number",
        [](json& j) { j["parameters"]["experts"]["components"] = 5; },
        {"components"}},
       {"a gate is a number", [](json& j) { j["parameters"]["gates"][0] = 1; }, {"gates[0]"}},
       {"no parameters", [](json& j) { j.erase("parameters"); }, {"missing field 'parameters'"}},
       {"collapse_tol is text", [](json& j) { j["spec"]["collapse_tol"] = "x"; }, {"collapse_tol"}},
       {"factor_levels is a list",
        [](json& j) {
          j["spec"]["data"]["factor_levels"] = {1, 2};
        },
        {"factor_levels"}},
       {"a mean is text",
        [](json& j) { j["parameters"]["experts"]["components"][0]["mean"][0] = "4.2"; },
        {"mean[0]: expected a number"}}});
  TempFile cut(g.dump().substr(0, 200), ".json");
  const Run r = run_cli("predict " + cut.path() + " " + kFaithful);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains(cut.path()) && !Contains("json.exception"));
}

TEST_CASE("summary of a folder says it is a directory", "[cli][model-file][errors]") {
  const Run s = run_cli(std::string("summary ") + MOEKIT_DATASETS_DIR);
  CHECK(s.status == 1);
  CHECK_THAT(s.err, Contains("is a directory"));  // "unexpected end of input" before
}
