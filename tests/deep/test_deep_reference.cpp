// Equality with an independent PyTorch (autograd) implementation: the files under
// tests/deep/reference/ are written by tests/reference/gen/deep_reference.py. Each holds a
// configuration, inputs and weights, the forward output, the auxiliary losses and the
// gradients of J = output_weight * 0.5 * |y|^2 + aux, computed in float64. The layer runs in
// both precisions from the same (rounded) inputs: within 1e-5 relative in double, within
// kFloatTolerance relative in float (float's 6e-8 unit roundoff grown through two GEMMs, the
// softmaxes and the backward pass: the largest error seen is above 3e-5 and below 1e-4).

#include "moekit/deep/moe_layer.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <string>
#include <type_traits>
#include <vector>

using namespace moekit;
using namespace moekit::deep;
using nlohmann::json;

namespace {

json load(const std::string& name) {
  const std::string path = std::string(MOEKIT_TESTS_DIR) + "/deep/reference/" + name + ".json";
  std::ifstream in(path);
  REQUIRE(in.good());
  return json::parse(in);
}

Matrix to_matrix(const json& j, Index rows, Index cols) {
  Matrix m(rows, cols);
  if (rows == 0 || cols == 0) return m;
  REQUIRE(static_cast<Index>(j.size()) == rows);
  for (Index r = 0; r < rows; ++r) {
    REQUIRE(static_cast<Index>(j[r].size()) == cols);
    for (Index c = 0; c < cols; ++c) m(r, c) = j[r][c].get<double>();
  }
  return m;
}

Vector to_vector(const json& j) {
  Vector v(static_cast<Index>(j.size()));
  for (Index i = 0; i < v.size(); ++i) v(i) = j[i].get<double>();
  return v;
}

constexpr double kFloatTolerance = 1e-4;

template <typename S>
constexpr double tolerance() {
  return std::is_same_v<S, float> ? kFloatTolerance : 1e-5;
}

// |a - b| <= tol * max(|b|, 1e-3 * scale): relative, with a floor for entries near zero
// (scale = largest magnitude of the reference array).
template <typename S, typename Derived>
void check_close(const Eigen::MatrixBase<Derived>& actual_in,
                 const Matrix& expected,
                 const std::string& what) {
  const Matrix actual = actual_in.template cast<double>();
  REQUIRE(actual.rows() == expected.rows());
  REQUIRE(actual.cols() == expected.cols());
  const double scale = expected.size() ? expected.cwiseAbs().maxCoeff() : 0.0;
  const double tol = tolerance<S>();
  for (Index i = 0; i < actual.size(); ++i) {
    const double a = actual.data()[i], b = expected.data()[i];
    INFO(what << " entry " << i << ": moekit " << a << " torch " << b);
    CHECK(std::abs(a - b) <= tol * std::max(std::abs(b), 1e-3 * scale) + 1e-12);
  }
}

template <typename S>
void read_expert(const json& j, ExpertParamsT<S>& e, Index d, Index h) {
  e.w1 = to_matrix(j["w1"], d, h).cast<S>();
  e.b1 = to_vector(j["b1"]).cast<S>();
  e.w2 = to_matrix(j["w2"], h, d).cast<S>();
  e.b2 = to_vector(j["b2"]).cast<S>();
}

template <typename S>
void check_reference(const std::string& name) {
  using Mat = MatrixT<S>;
  INFO("reference " << name);
  const json ref = load(name);
  const json& jc = ref["config"];
  const Index T = jc["tokens"], d = jc["dim"], h = jc["hidden"], E = jc["num_experts"];
  MoeConfig c;
  c.dim = d;
  c.hidden = h;
  c.num_experts = E;
  c.num_shared_experts = jc["num_shared"];
  c.activation = parse_activation(jc["activation"]);
  c.residual = jc["residual"];
  c.router.kind = parse_routing_kind(jc["routing"]);
  c.router.k = jc["k"];
  c.router.normalize = jc["normalize"];
  c.router.score = jc["score"] == "sigmoid" ? ScoreFunction::kSigmoid : ScoreFunction::kSoftmax;
  c.router.capacity_factor = jc["capacity_factor"];
  c.router.balance_bias = jc["balance_bias"];
  c.router.slots_per_expert = jc["slots"];
  c.router.hash_seed = jc["hash_seed"];
  c.aux.load_balance = jc["aux"]["load_balance"];
  c.aux.z_loss = jc["aux"]["z_loss"];
  c.aux.importance = jc["aux"]["importance"];
  c.aux.load = jc["aux"]["load"];
  const double output_weight = jc["output_weight"];
  MoeLayerT<S> layer(c);
  const json& jp = ref["params"];
  const Index R = c.router_columns();
  layer.params().router = to_matrix(jp["router"], d, R).cast<S>();
  if (c.router.kind == RoutingKind::kNoisyTopK)
    layer.params().noise_router = to_matrix(jp["noise_router"], d, E).cast<S>();
  for (Index e = 0; e < E; ++e) read_expert(jp["experts"][e], layer.params().experts[e], d, h);
  for (Index s = 0; s < c.num_shared_experts; ++s)
    read_expert(jp["shared"][s], layer.params().shared[s], d, h);
  if (c.router.balance_bias) layer.balance_bias() = to_vector(jc["bias"]).cast<S>();

  const Mat x = to_matrix(ref["x"], T, d).cast<S>();
  const Matrix noise = to_matrix(ref["noise"], T, E);
  const std::vector<std::int64_t> ids = ref["token_ids"].get<std::vector<std::int64_t>>();
  ForwardContext ctx;
  ctx.noise = &noise;
  ctx.token_ids = &ids;
  MoeWorkspaceT<S> ws;
  Mat y(T, d);
  const double aux = layer.forward(x, ws, y, ctx);
  check_close<S>(y, to_matrix(ref["y"], T, d), "y");
  const json& jl = ref["losses"];
  Matrix losses(4, 1), ref_losses(4, 1);
  losses << ws.lb_loss, ws.z_loss, ws.importance_loss, ws.load_loss;
  ref_losses << jl["load_balance"].get<double>(), jl["z_loss"].get<double>(),
      jl["importance"].get<double>(), jl["load"].get<double>();
  check_close<S>(losses, ref_losses, "aux losses (lb, z, importance, load)");
  CHECK(aux == Approx(ref["aux_loss"].get<double>()).epsilon(tolerance<S>()).margin(1e-12));
  check_close<S>(ws.load, to_vector(ref["load"]), "expert load");
  CHECK(ws.dropped == ref["dropped"].get<Index>());

  MoeParamsT<S> grads;
  grads.resize_zero(c);
  Mat dx(T, d);
  const Mat dy = static_cast<S>(output_weight) * y;
  layer.backward(x, dy, ws, grads, dx);
  const json& jg = ref["grads"];
  check_close<S>(dx, to_matrix(jg["x"], T, d), "dJ/dx");
  if (R > 0) check_close<S>(grads.router, to_matrix(jg["router"], d, R), "dJ/drouter");
  if (c.router.kind == RoutingKind::kNoisyTopK)
    check_close<S>(grads.noise_router, to_matrix(jg["noise_router"], d, E), "dJ/dnoise_router");
  auto check_expert = [&](const ExpertParamsT<S>& g, const json& je, const std::string& what) {
    check_close<S>(g.w1, to_matrix(je["w1"], d, h), what + ".w1");
    check_close<S>(g.b1, to_vector(je["b1"]), what + ".b1");
    check_close<S>(g.w2, to_matrix(je["w2"], h, d), what + ".w2");
    check_close<S>(g.b2, to_vector(je["b2"]), what + ".b2");
  };
  for (Index e = 0; e < E; ++e)
    check_expert(grads.experts[e], jg["experts"][e], "dJ/dexpert" + std::to_string(e));
  for (Index s = 0; s < c.num_shared_experts; ++s)
    check_expert(grads.shared[s], jg["shared"][s], "dJ/dshared" + std::to_string(s));
}

}  // namespace

TEMPLATE_TEST_CASE("deep: forward, losses and gradients equal the PyTorch reference",
                   "[deep][reference]",
                   float,
                   double) {
  const char* names[] = {"switch_top1", "switch_aux_only", "mixtral_top2",  "gshard_top2",
                         "noisy_top2",  "noisy_aux_only",  "capacity_top1", "capacity_top2",
                         "deepseek_v3", "expert_choice",   "hash",          "soft",
                         "shared_top2"};
  for (const char* name : names) {
    SECTION(name) { check_reference<TestType>(name); }
  }
}
