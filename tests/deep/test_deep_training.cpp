// Training: Adam64's first step, the trainer lowering the task loss, and load balancing (the
// Switch loss and DeepSeek-V3's bias) lowering the expert load imbalance. The task's four
// pieces are equally frequent; without balancing the top-1 router still collapses onto two
// experts (max/mean load about 3 of a possible 4).

#include "moekit/deep/optimizer.hpp"
#include "moekit/deep/synthetic.hpp"
#include "moekit/deep/trainer.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace moekit;
using namespace moekit::deep;

namespace {

MoeConfig small_config(RouterOptions router) {
  MoeConfig c;
  c.dim = 6;
  c.hidden = 16;
  c.num_experts = 4;
  c.activation = Activation::kGelu;
  c.router = router;
  return c;
}

struct RunResult {
  double first_loss, last_loss, imbalance;
};

// Mean imbalance over the last three epochs of a fixed-seed run.
RunResult train(const MoeConfig& config, const PiecewiseTask& task, int epochs = 12) {
  MoeLayer64 layer(config);
  layer.init(17);
  TrainOptions opt;
  opt.epochs = epochs;
  opt.batch_tokens = 128;
  opt.adam.lr = 3e-3;
  opt.seed = 23;
  Trainer64 trainer(layer, opt);
  const auto records = trainer.fit(task.x, task.y);
  double imb = 0.0;
  for (int e = epochs - 3; e < epochs; ++e) imb += records[e].imbalance / 3.0;
  return {records.front().loss, records.back().loss, imb};
}

}  // namespace

TEST_CASE("deep: Adam's first step moves each weight by lr against its gradient's sign",
          "[deep][optimizer]") {
  MoeConfig c = small_config(RouterOptions::mixtral_top2());
  MoeParams64 p, g;
  p.resize_zero(c);
  g.resize_zero(c);
  g.router(0, 0) = 3.0;
  g.router(1, 0) = -0.5;
  g.experts[1].b2(2) = 1e-3;
  AdamOptions o;
  o.lr = 0.1;
  Adam64 adam(o);
  adam.step(p, g);
  // m^ = g and v^ = g^2 after one step: the update is lr * g / (|g| + eps).
  CHECK(p.router(0, 0) == Approx(-0.1).epsilon(1e-6));
  CHECK(p.router(1, 0) == Approx(0.1).epsilon(1e-6));
  CHECK(p.experts[1].b2(2) == Approx(-0.1).epsilon(1e-4));
  CHECK(p.router(2, 0) == 0.0);
  CHECK(adam.steps() == 1);
}

TEST_CASE("deep: the trainer fits the piecewise task; balancing lowers the load imbalance",
          "[deep][training]") {
  const PiecewiseTask task = make_piecewise_task(1536, 6, 4, 1.0, 99);

  MoeConfig plain = small_config(RouterOptions::switch_top1(0.0));
  MoeConfig balanced = plain;
  balanced.aux.load_balance = 0.1;
  const RunResult a = train(plain, task);
  const RunResult b = train(balanced, task);
  INFO("imbalance without balancing " << a.imbalance << ", with Switch loss " << b.imbalance);
  CHECK(a.last_loss < 0.5 * a.first_loss);
  CHECK(b.last_loss < 0.5 * b.first_loss);
  // Stated margin: the Switch loss cuts max/mean load by at least 20%.
  CHECK(b.imbalance < 0.8 * a.imbalance);

  // DeepSeek-V3 bias balancing (no auxiliary loss) against the same router without bias.
  RouterOptions v3 = RouterOptions::deepseek_v3(1);
  v3.bias_update_rate = 0.01;
  RouterOptions no_bias = v3;
  no_bias.balance_bias = false;
  const RunResult c = train(small_config(no_bias), task);
  const RunResult d = train(small_config(v3), task);
  INFO("sigmoid top-1 imbalance without bias " << c.imbalance << ", with bias " << d.imbalance);
  CHECK(d.imbalance < 0.8 * c.imbalance);
}
