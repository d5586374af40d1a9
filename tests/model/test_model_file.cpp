// Model files of format 2 (the gating tree) round-trip exactly; files of format 1 (one gate)
// still load and predict as before.

#include "experts/regression_util.hpp"

#include "moekit/core/error.hpp"
#include "moekit/infer/predict.hpp"
#include "moekit/model/model_json.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace moekit;

namespace {

void same_predictions(const Model& a, const Model& b, const Dataset& d) {
  CHECK(predict_posterior(a, d) == predict_posterior(b, d));
  CHECK(predict_gate(a, d) == predict_gate(b, d));
  CHECK(predict_mean(a, d) == predict_mean(b, d));
  CHECK(predict_log_density(a, d) == predict_log_density(b, d));
}

}  // namespace

TEST_CASE("a fitted tree round-trips through its model file", "[model-file][tree]") {
  for (const char* gate : {"softmax", "gaussian", "constant"}) {
    CAPTURE(gate);
    auto p = testing::load_problem("NOdata.csv", "Equivalence ~ NO", "linear", gate, 4);
    p.spec.set_shape(TreeShape::parse("2,2"));
    Model m = testing::make_model(p);
    const FitResult r = testing::fit_em(m, p.data, 2);
    const std::string text = model_to_json(m, &r);
    const auto j = nlohmann::json::parse(text);
    CHECK(j.at("version") == 2);
    CHECK(j.at("spec").at("tree") == std::vector<Index>{2, 2});
    CHECK(j.at("parameters").at("gates").size() == 3);
    CHECK(j.at("parameters").at("gates")[2].at("path") == "2");
    const Model back = model_from_json(text, "tree.json");
    CHECK(back.tree() == m.tree());
    CHECK(back.gate(2).kind() == gate);
    same_predictions(m, back, p.data);
    CHECK(predict_branch_posterior(m, p.data) == predict_branch_posterior(back, p.data));
    CHECK(fit_record_from_json(text, "memory").joint == (std::string(gate) == "gaussian"));
  }
}

TEST_CASE("a format-1 model file loads and predicts as the model it was written from",
          "[model-file]") {
  auto p = testing::load_problem("NOdata.csv", "Equivalence ~ NO", "linear", "softmax", 2);
  Model m = testing::make_model(p);
  const FitResult r = testing::fit_em(m, p.data, 2);
  // Format 1 as moekit 0.x wrote it: no tree, no gate_covariance, one "gate" object.
  auto j = nlohmann::json::parse(model_to_json(m, &r));
  j["version"] = 1;
  j["spec"].erase("tree");
  j["spec"].erase("gate_covariance");
  j["parameters"]["gate"] = j["parameters"]["gates"][0]["parameters"];
  j["parameters"].erase("gates");
  j["fit"].erase("criteria_on");
  const Model old = model_from_json(j.dump(), "old.json");
  CHECK(old.tree().is_flat());
  CHECK(old.components() == 2);
  same_predictions(m, old, p.data);
}

TEST_CASE("model files whose tree and gates disagree are rejected", "[model-file][errors]") {
  auto p = testing::load_problem("NOdata.csv", "Equivalence ~ NO", "linear", "softmax", 4);
  p.spec.set_shape(TreeShape::parse("2,2"));
  Model m = testing::make_model(p);
  testing::fit_em(m, p.data, 1);
  const auto good = nlohmann::json::parse(model_to_json(m, nullptr));
  {
    auto j = good;
    j["parameters"]["gates"].erase(2);
    CHECK_THROWS_WITH(
        model_from_json(j.dump(), "bad.json"),
        Catch::Matchers::Contains("bad.json") && Catch::Matchers::Contains("expected 3 gates"));
  }
  {
    auto j = good;
    j["spec"]["K"] = 3;
    CHECK_THROWS_WITH(model_from_json(j.dump(), "bad.json"), Catch::Matchers::Contains("4 leaves"));
  }
  {
    auto j = good;
    j["spec"]["tree"] = {2, 0};
    CHECK_THROWS_AS(model_from_json(j.dump(), "bad.json"), ModelFormatError);
  }
}
