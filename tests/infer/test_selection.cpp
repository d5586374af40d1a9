// Model selection from the library: the table of candidates, the choice by each criterion,
// candidates that cannot be fitted, and the errors.

#include "moekit/core/error.hpp"
#include "moekit/core/rng.hpp"
#include "moekit/infer/selection.hpp"
#include "support/simulate.hpp"

#include <catch2/catch.hpp>

using namespace moekit;

namespace {

// Three well-separated bivariate clusters.
Dataset three_clusters(Index n) {
  Rng rng(17);
  Vector w = Vector::Constant(3, 1.0 / 3.0);
  Matrix means(3, 2);
  means << 0, 0, 6, 0, 0, 6;
  const Matrix I = Matrix::Identity(2, 2);
  const auto s = testing::simulate_mixture(n, w, means, {I, I, I}, rng);
  Dataset d;
  d.y = s.y;
  d.x = Matrix::Ones(n, 1);
  d.z = Matrix::Ones(n, 1);
  return d;
}

}  // namespace

TEST_CASE("select_model fits every K and picks the lowest criterion", "[selection]") {
  const Dataset data = three_clusters(240);
  ModelSpec base;
  base.data.response_names = {"y1", "y2"};
  SelectionOptions o;
  o.fit.restarts = 3;
  int calls = 0;
  o.progress = [&calls](const SelectionCandidate&) {
    ++calls;
    return std::function<bool(const IterationInfo&)>{};
  };
  const Selection s = select_model(specs_for_components(base, {1, 2, 3, 4}), data, o);
  CHECK(calls == 4);
  REQUIRE(s.candidates.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    const SelectionCandidate& c = s.candidates[i];
    INFO(c.label);
    CHECK(c.label == std::to_string(i + 1));
    REQUIRE(c.fit.has_value());
    REQUIRE(c.model.has_value());
    CHECK(c.model->components() == static_cast<Index>(i + 1));
    CHECK(criterion_value(*c.fit, Criterion::Bic) >= criterion_value(s.best_fit(), Criterion::Bic));
  }
  CHECK(s.best == 2);
  CHECK(s.best_model().components() == 3);
  CHECK(&s.best_fit() == &*s.candidates[2].fit);

  o.criterion = Criterion::Aic;
  const Selection a = select_model(specs_for_components(base, {2, 3}), data, o);
  CHECK(a.criterion == Criterion::Aic);
  CHECK(a.best_candidate().label == "3");
}

TEST_CASE("a candidate that cannot be fitted is recorded and skipped", "[selection]") {
  const Dataset data = three_clusters(30);
  ModelSpec base;
  base.data.response_names = {"y1", "y2"};
  const Selection s = select_model(specs_for_components(base, {3, 40}), data, {});
  REQUIRE(s.candidates.size() == 2);
  CHECK(s.candidates[1].label == "40");
  CHECK_FALSE(s.candidates[1].fit.has_value());
  CHECK_FALSE(s.candidates[1].error.empty());
  CHECK(s.best == 0);
}

TEST_CASE("trees are candidates too, labelled by their shape", "[selection][tree]") {
  const Dataset data = three_clusters(120);
  ModelSpec flat;
  flat.K = 2;
  ModelSpec tree = flat;
  tree.set_shape(TreeShape(std::vector<Index>{2, 2}));
  CHECK(candidate_label(flat) == "2");
  CHECK(candidate_label(tree) == "2,2");
  const Selection s = select_model({flat, tree}, data, {});
  CHECK(s.candidates[1].label == "2,2");
  CHECK(s.candidates[1].fit.has_value());
}

TEST_CASE("selection errors: criterion names, empty and repeated candidates", "[selection]") {
  CHECK(parse_criterion("icl") == Criterion::Icl);
  CHECK(to_string(Criterion::Aic) == "aic");
  CHECK_THROWS_AS(parse_criterion("dic"), InputError);
  CHECK_THROWS_WITH(parse_criterion("dic"), Catch::Contains("--criterion"));
  const Dataset data = three_clusters(30);
  CHECK_THROWS_AS(select_model({}, data, {}), InputError);
  ModelSpec s;
  CHECK_THROWS_AS(select_model({s, s}, data, {}), InputError);
}
