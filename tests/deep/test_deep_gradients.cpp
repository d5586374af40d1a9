// Finite-difference checks of MoeLayer64::backward for every routing kind and every auxiliary
// loss. Routing decisions are piecewise constant in the parameters; each check asserts that
// the perturbed forwards kept the routing of the base point ("routing held fixed").

#include "deep/deep_test_util.hpp"
#include "moekit/deep/moe_layer.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

using namespace moekit;
using namespace moekit::deep;

namespace {

struct Case {
  std::string name;
  MoeConfig config;
  double output_weight = 1.0;  // J = output_weight * <R, y> + aux
};

MoeConfig base_config(RouterOptions router) {
  MoeConfig c;
  c.dim = 5;
  c.hidden = 6;
  c.num_experts = 4;
  c.activation = Activation::kGelu;
  c.router = router;
  return c;
}

std::vector<Case> cases() {
  std::vector<Case> out;
  auto add = [&](const std::string& name, MoeConfig c, double w = 1.0) {
    out.push_back({name, c, w});
  };
  RouterOptions r;
  add("switch top-1 (softmax before top-k)", base_config(RouterOptions::switch_top1(0.0)));
  add("mixtral top-2 (renormalised)", base_config(RouterOptions::mixtral_top2()));
  r = RouterOptions::mixtral_top2();
  r.normalize = false;
  auto c = base_config(r);
  c.activation = Activation::kSilu;
  add("gshard top-2 (raw softmax weights), silu", c);
  add("noisy top-2", base_config(RouterOptions::noisy_top_k(2)));
  c = base_config(RouterOptions::switch_top1(1.0));
  c.residual = true;
  add("switch top-1 with capacity 1.0 + residual", c);
  r = RouterOptions::mixtral_top2();
  r.capacity_factor = 0.75;
  add("top-2 with capacity 0.75", base_config(r));
  c = base_config(RouterOptions::deepseek_v3(2));
  c.num_shared_experts = 1;
  add("deepseek-v3 sigmoid + bias + shared", c);
  r = RouterOptions::deepseek_v3(2);
  r.normalize = false;
  r.balance_bias = false;
  add("sigmoid top-2 unnormalised", base_config(r));
  add("expert choice", base_config(RouterOptions::expert_choice(2.0)));
  add("hash", base_config(RouterOptions::hash(3)));
  add("soft moe, 2 slots", base_config(RouterOptions::soft(2)));
  c = base_config(RouterOptions::mixtral_top2());
  c.num_shared_experts = 2;
  c.residual = true;
  add("top-2 + 2 shared experts + residual", c);
  // Auxiliary losses alone (J = aux) and all together with the output.
  c = base_config(RouterOptions::mixtral_top2());
  c.aux.load_balance = 1.0;
  add("aux: switch load balancing", c, 0.0);
  c = base_config(RouterOptions::switch_top1(0.0));
  c.aux.z_loss = 1.0;
  add("aux: router z-loss", c, 0.0);
  c = base_config(RouterOptions::expert_choice(2.0));
  c.aux.z_loss = 1.0;
  add("aux: z-loss with expert choice", c, 0.0);
  c = base_config(RouterOptions::noisy_top_k(2));
  c.aux.importance = 1.0;
  add("aux: importance", c, 0.0);
  c = base_config(RouterOptions::noisy_top_k(2));
  c.aux.load = 1.0;
  add("aux: load (noisy top-2)", c, 0.0);
  c = base_config(RouterOptions::noisy_top_k(1));
  c.aux.load = 1.0;
  add("aux: load (noisy top-1)", c, 0.0);
  c = base_config(RouterOptions::noisy_top_k(2));
  c.aux = {0.3, 0.2, 0.4, 0.5};
  add("all auxiliary losses + output", c, 1.0);
  return out;
}

struct Snapshot {
  std::vector<Index> expert, token, slot_pair;
  bool operator==(const Snapshot& o) const {
    return expert == o.expert && token == o.token && slot_pair == o.slot_pair;
  }
};

Snapshot snapshot(const MoeWorkspace64& ws) {
  return {ws.pair_expert, ws.pair_token, ws.dispatch.pair};
}

}  // namespace

TEST_CASE("deep: backward matches central finite differences for every routing kind and loss",
          "[deep][gradient]") {
  const Index T = 12;
  for (const Case& tc : cases()) {
    INFO(tc.name);
    MoeLayer64 layer(tc.config);
    Rng rng(derive_seed(42, std::hash<std::string>{}(tc.name) % 1000));
    test::randomize(layer.params(), rng, 0.6);
    if (tc.config.router.balance_bias) layer.balance_bias() = test::random_matrix(4, 1, rng, 0.3);
    Matrix x = test::random_matrix(T, tc.config.dim, rng);
    const Matrix noise = test::random_matrix(T, tc.config.num_experts, rng);
    const Matrix R = test::random_matrix(T, tc.config.dim, rng);
    std::vector<std::int64_t> ids;
    for (Index t = 0; t < T; ++t) ids.push_back(static_cast<std::int64_t>(rng() % 50));
    ForwardContext ctx;
    ctx.noise = &noise;
    ctx.token_ids = &ids;
    MoeWorkspace64 ws;
    Matrix y(T, tc.config.dim);
    auto objective = [&](const Matrix& xin) {
      const double aux = layer.forward(xin, ws, y, ctx);
      return tc.output_weight * (R.array() * y.array()).sum() + aux;
    };
    const double j0 = objective(x);
    REQUIRE(std::isfinite(j0));
    const Snapshot routing = snapshot(ws);
    if (tc.config.router.capacity_factor > 0.0 &&
        tc.config.router.kind != RoutingKind::kExpertChoice) {
      CHECK(ws.dropped > 0);  // the capacity cases must actually drop something
    }
    MoeParams64 grads;
    grads.resize_zero(tc.config);
    Matrix dx(T, tc.config.dim);
    const Matrix dy = tc.output_weight * R;
    layer.backward(x, dy, ws, grads, dx);

    const double h = 1e-6;
    auto check = [&](double* coord, double analytic, const char* what, Index i) {
      const double saved = *coord;
      *coord = saved + h;
      const double jp = objective(x);
      REQUIRE(snapshot(ws) == routing);
      *coord = saved - h;
      const double jm = objective(x);
      REQUIRE(snapshot(ws) == routing);
      *coord = saved;
      const double numeric = (jp - jm) / (2 * h);
      INFO(what << "[" << i << "] analytic " << analytic << " numeric " << numeric);
      CHECK(std::abs(analytic - numeric) <= 1e-6 + 1e-5 * std::abs(numeric));
    };
    auto params = layer.params().spans();
    auto gspans = grads.spans();
    REQUIRE(params.size() == gspans.size());
    double grad_norm = 0.0;
    for (std::size_t s = 0; s < params.size(); ++s)
      for (Index i = 0; i < params[s].second; ++i) {
        check(params[s].first + i, gspans[s].first[i], "param span",
              static_cast<Index>(s) * 10000 + i);
        grad_norm += std::abs(gspans[s].first[i]);
      }
    for (Index i = 0; i < x.size(); ++i) check(x.data() + i, dx.data()[i], "x", i);
    CHECK(grad_norm > 0.0);  // the objective does depend on the parameters
  }
}
